#!/usr/bin/env python3
"""httpd.py - the small HTTP(S) server the runtime's C tests talk to over real sockets.

Usage: httpd.py PORTFILE CERT KEY
Listens on 127.0.0.1, plain HTTP and HTTPS (with CERT/KEY) on ports chosen by the kernel,
writes "HTTP_PORT HTTPS_PORT" to PORTFILE, serves until killed.

Routes (any method):
  /echo               200 JSON {method, path, headers, body, peer_port}
  /status/N           status N; ?retry_after=V adds Retry-After: V
  /slow?ms=N          sleeps N ms, then 200 JSON {concurrent: requests in progress at arrival}
  /drop               reads the request, closes the connection without a response
  /big?bytes=N        200 with N bytes of 'x'
  /json?file=NAME     200 with the JSON file tests/runtime/data/NAME
Anything else is 404.
"""
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
in_progress = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, status, body, ctype="application/json", extra=None):
        if status in (204, 304):
            body = b""   # these statuses carry no body; sending one desyncs keep-alive
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        global in_progress
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        route = url.path
        if route == "/echo":
            doc = {"method": self.command, "path": self.path,
                   "headers": {k: v for k, v in self.headers.items()},
                   "body": body.decode("utf-8", "replace"),
                   "peer_port": self.client_address[1]}
            self.send_body(200, json.dumps(doc).encode())
        elif route.startswith("/status/"):
            extra = {}
            if "retry_after" in q:
                extra["Retry-After"] = q["retry_after"][0]
            self.send_body(int(route[len("/status/"):]), b'{"status":"as asked"}', extra=extra)
        elif route == "/slow":
            with lock:
                in_progress += 1
                seen = in_progress
            try:
                time.sleep(int(q.get("ms", ["100"])[0]) / 1000.0)
            finally:
                with lock:
                    in_progress -= 1
            try:
                self.send_body(200, json.dumps({"concurrent": seen}).encode())
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif route == "/drop":
            self.close_connection = True
            self.wfile.flush()
            self.connection.close()
        elif route == "/big":
            self.send_body(200, b"x" * int(q.get("bytes", ["0"])[0]), "text/plain")
        elif route == "/json":
            name = os.path.basename(q.get("file", [""])[0])
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", name)
            try:
                with open(path, "rb") as f:
                    self.send_body(200, f.read())
            except OSError:
                self.send_body(404, b'{"error":"no such file"}')
        else:
            self.send_body(404, b'{"error":"no route"}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def main():
    portfile, cert, key = sys.argv[1:4]
    plain = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    secure = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    secure.socket = ctx.wrap_socket(secure.socket, server_side=True)
    for s in (plain, secure):
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (plain.server_address[1], secure.server_address[1]))
    os.rename(tmp, portfile)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
