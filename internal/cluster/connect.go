package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// minServer is the oldest etcd server renewd talks to: the client is
// v3.7, whose API the 3.5 servers and later speak fully.
var minServer = [2]int{3, 5}

// Connect opens an etcd client for cfg and checks, within its dial
// timeout, that an endpoint answers and runs a server renewd supports. The
// errors say what to check: the endpoints, TLS, credentials, the version.
func Connect(ctx context.Context, cfg config.Cluster, log *zap.Logger) (*clientv3.Client, error) {
	tlsCfg, err := tlsConfig(cfg.Etcd)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Etcd.Endpoints, DialTimeout: cfg.Etcd.DialTimeout, TLS: tlsCfg,
		Username: cfg.Etcd.Username, Password: cfg.Etcd.Password,
		Logger: log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.ErrorLevel)),
		// Keepalives find a dead connection, so a watch or a campaign does
		// not hang on it.
		DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(cfg.Etcd.Endpoints, ","), err)
	}
	if err := checkServer(ctx, cli, cfg.Etcd, tlsCfg); err != nil {
		_ = cli.Close()
		return nil, err
	}
	return cli, nil
}

func tlsConfig(e config.Etcd) (*tls.Config, error) {
	if e.TLS.CA == "" && e.TLS.Cert == "" && !anyHTTPS(e.Endpoints) {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.TLS.CA != "" {
		pem, err := os.ReadFile(e.TLS.CA)
		if err != nil {
			return nil, fmt.Errorf("cluster.etcd.tls.ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster.etcd.tls.ca: %s holds no PEM certificate", e.TLS.CA)
		}
	}
	if e.TLS.Cert != "" {
		pair, err := tls.LoadX509KeyPair(e.TLS.Cert, e.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("cluster.etcd.tls.cert %s and cluster.etcd.tls.key %s are not a certificate and its key: %w", e.TLS.Cert, e.TLS.Key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

func anyHTTPS(endpoints []string) bool {
	for _, e := range endpoints {
		if strings.HasPrefix(e, "https://") {
			return true
		}
	}
	return false
}

// checkServer asks the endpoints for their status: the first that answers
// must run etcd minServer or newer. When none answers over TLS, it says
// which TLS setting and file is at fault, if a handshake tells.
func checkServer(ctx context.Context, cli *clientv3.Client, e config.Etcd, tlsCfg *tls.Config) error {
	var errs []error
	for _, ep := range e.Endpoints {
		sctx, cancel := context.WithTimeout(ctx, e.DialTimeout)
		st, err := cli.Status(sctx, ep)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep, err))
			continue
		}
		if !versionAtLeast(st.Version, minServer) {
			return fmt.Errorf("etcd %s runs %s; renewd needs etcd %d.%d or newer", ep, st.Version, minServer[0], minServer[1])
		}
		return nil
	}
	if tlsCfg != nil {
		for _, ep := range e.Endpoints {
			if err := diagnoseTLS(ctx, ep, e, tlsCfg); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("no etcd endpoint answered within %s (%w); check cluster.etcd.endpoints, that etcd runs, and the TLS and credential settings",
		e.DialTimeout, errors.Join(errs...))
}

func versionAtLeast(v string, want [2]int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > want[0] || major == want[0] && minor >= want[1]
}

// http2Preface is what a gRPC client sends first; a server that accepted
// the client's certificate answers it with its settings.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// diagnoseTLS connects to an https endpoint as the etcd client does and
// returns an error naming the setting to fix when TLS is why it does not
// answer: the CA does not verify etcd's certificate (cluster.etcd.tls.ca),
// or etcd refuses this node's client certificate (cluster.etcd.tls.cert),
// or asks for one and none is set. Nil when TLS is not the problem or
// cannot be judged (no connection at all).
func diagnoseTLS(ctx context.Context, endpoint string, e config.Etcd, tlsCfg *tls.Config) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" {
		return nil
	}
	c := tlsCfg.Clone()
	c.ServerName = u.Hostname()
	dctx, cancel := context.WithTimeout(ctx, e.DialTimeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: c}).DialContext(dctx, "tcp", u.Host)
	if err == nil {
		defer conn.Close()
		// TLS 1.3: the server judges the client's certificate after the
		// client's side of the handshake is done; its verdict comes with
		// the first answer.
		deadline, _ := dctx.Deadline()
		_ = conn.SetDeadline(deadline)
		if _, err = conn.Write([]byte(http2Preface)); err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
	}
	var verr *tls.CertificateVerificationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr):
		if e.TLS.CA == "" {
			return fmt.Errorf("etcd %s: the system's roots do not verify its certificate (%w); set cluster.etcd.tls.ca to the CA that signed it", endpoint, err)
		}
		return fmt.Errorf("etcd %s: cluster.etcd.tls.ca %s does not verify its certificate (%w); give the CA that signed etcd's server certificates", endpoint, e.TLS.CA, err)
	case strings.Contains(err.Error(), "remote error: tls:"): // the server's alert; crypto/tls exports no type for it
		if e.TLS.Cert == "" {
			return fmt.Errorf("etcd %s refused the connection (%w); it may require a client certificate: set cluster.etcd.tls.cert and cluster.etcd.tls.key", endpoint, err)
		}
		return fmt.Errorf("etcd %s refused this node's client certificate cluster.etcd.tls.cert %s (%w); give one signed by a CA etcd's --trusted-ca-file trusts", endpoint, e.TLS.Cert, err)
	}
	return nil
}
