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
Auth emulation (credentials as in the sandbox: client sync-client/sync-secret, user admin/admin,
API key "test-key" in X-Clarity-Api-Key):
  POST /T/oauth2/v2.0/token     client credentials, scope=.../.default -> expires_in number
  POST /T/oauth2/token          client credentials, resource=... -> expires_in as a string
  GET  /d365/protected          200 with a valid Bearer token, else 401
  POST /auth/identity           {UserName, Password} -> {SessionId} + Set-Cookie ss-id
  GET  /clarity/protected       200 with X-ss-id / ss-id cookie / Basic / API key, else 401
  POST /_ctl/token_life?s=N     lifetime of tokens issued from now on (default 3599)
  POST /_ctl/revoke             every issued token and session becomes invalid
  POST /_ctl/secret?s=S         the client secret the token endpoint accepts from now on
  GET  /_ctl/counts             {"token_requests": N, "logins": M}
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
auth = {"tokens": set(), "sessions": set(), "n": 0, "life": 3599, "token_requests": 0, "logins": 0,
        "secret": "sync-secret"}


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
        elif route.endswith("/oauth2/v2.0/token") or route.endswith("/oauth2/token"):
            self.token(route.endswith("/v2.0/token"), body)
        elif route == "/d365/protected":
            h = self.headers.get("Authorization", "")
            with lock:
                ok = h.startswith("Bearer ") and h[7:] in auth["tokens"]
            if ok:
                self.send_body(200, json.dumps({"who": h[7:]}).encode())
            else:
                self.send_body(401, b'{"error":{"code":"","message":"Unauthorized"}}',
                               extra={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        elif route == "/auth/identity":
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                doc = {}
            with lock:
                auth["logins"] += 1
                if doc.get("UserName") == "admin" and doc.get("Password") == "admin":
                    auth["n"] += 1
                    sid = "sess-%d" % auth["n"]
                    auth["sessions"].add(sid)
                else:
                    sid = None
            if sid:
                self.send_body(200, json.dumps({"SessionId": sid, "UserName": "admin"}).encode(),
                               extra={"Set-Cookie": "ss-id=%s; path=/; HttpOnly" % sid})
            else:
                self.send_body(401, b'{"ResponseStatus":{"ErrorCode":"Unauthorized",'
                                    b'"Message":"Invalid UserName or Password"}}')
        elif route == "/clarity/protected":
            sid = self.headers.get("X-ss-id", "")
            cookie = self.headers.get("Cookie", "")
            basic = self.headers.get("Authorization", "")
            key = self.headers.get("X-Clarity-Api-Key", "")
            with lock:
                ok = (sid in auth["sessions"] or
                      any(c.strip()[6:] in auth["sessions"] for c in cookie.split(";")
                          if c.strip().startswith("ss-id=")) or
                      basic == "Basic YWRtaW46YWRtaW4=" or key == "test-key")
            self.send_body(200 if ok else 401, b'{"ResponseStatus":{}}' if ok else
                           b'{"ResponseStatus":{"ErrorCode":"Unauthorized","Message":"Not authenticated"}}')
        elif route == "/_ctl/token_life":
            with lock:
                auth["life"] = int(q["s"][0])
            self.send_body(200, b"{}")
        elif route == "/_ctl/secret":
            with lock:
                auth["secret"] = q["s"][0]
            self.send_body(200, b"{}")
        elif route == "/_ctl/revoke":
            with lock:
                auth["tokens"].clear()
                auth["sessions"].clear()
            self.send_body(200, b"{}")
        elif route == "/_ctl/counts":
            with lock:
                doc = {"token_requests": auth["token_requests"], "logins": auth["logins"]}
            self.send_body(200, json.dumps(doc).encode())
        else:
            self.send_body(404, b'{"error":"no route"}')

    def token(self, v2, body):
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        get = lambda k: form.get(k, [None])[0]
        with lock:
            auth["token_requests"] += 1
        if (get("grant_type") != "client_credentials" or get("client_id") != "sync-client"
                or get("client_secret") != auth["secret"]):
            self.send_body(401, json.dumps({
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0"
            }).encode())
            return
        audience = get("scope") if v2 else get("resource")
        if not audience or (v2 and not audience.endswith("/.default")):
            self.send_body(400, json.dumps({"error": "invalid_scope",
                                            "error_description": "AADSTS70011: bad scope"}).encode())
            return
        with lock:
            auth["n"] += 1
            tok = "tok-%d" % auth["n"]
            auth["tokens"].add(tok)
            life = auth["life"]
        doc = {"token_type": "Bearer", "expires_in": life if v2 else str(life), "access_token": tok}
        self.send_body(200, json.dumps(doc).encode())

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
