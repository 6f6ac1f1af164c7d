"""Connects to each "PORT HOST" line of standard input on 127.0.0.1 with
Python's default TLS client context (ssl.create_default_context), trusting
only the CA file given as the first argument, and prints "PORT ok VERSION"
or "PORT fail REASON"."""
import socket
import ssl
import sys

ctx = ssl.create_default_context(cafile=sys.argv[1])
for line in sys.stdin:
    fields = line.split()
    if len(fields) != 2:
        continue
    port, host = fields
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname=host) as s:
                print(port, "ok", s.version(), flush=True)
    except Exception as e:  # every failure is a verdict, not a crash
        print(port, "fail", repr(e).replace("\n", " "), flush=True)
