// TLSClient connects to each "PORT HOST" line of standard input on
// 127.0.0.1 with Java's default TLS client (SunJSSE, PKIX trust manager,
// HTTPS endpoint identification) and prints "PORT ok PROTOCOL" or
// "PORT fail REASON". The trust store comes from -Djavax.net.ssl.trustStore.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

public class TLSClient {
    public static void main(String[] args) throws Exception {
        SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            if (f.length != 2) {
                continue;
            }
            int port = Integer.parseInt(f[0]);
            String host = f[1];
            try (Socket raw = new Socket()) {
                raw.connect(new InetSocketAddress("127.0.0.1", port), 10000);
                raw.setSoTimeout(10000);
                SSLSocket s = (SSLSocket) factory.createSocket(raw, host, port, true);
                SSLParameters p = s.getSSLParameters();
                p.setEndpointIdentificationAlgorithm("HTTPS");
                p.setServerNames(List.of(new SNIHostName(host)));
                s.setSSLParameters(p);
                s.startHandshake();
                System.out.println(port + " ok " + s.getSession().getProtocol());
                s.close();
            } catch (Exception e) {
                String msg = e.toString();
                for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                    msg += " <- " + c;
                }
                System.out.println(port + " fail " + msg.replace('\n', ' '));
            }
            System.out.flush();
        }
    }
}
