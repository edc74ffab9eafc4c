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
  /drop_once?key=K    the first request with key K is dropped like /drop, later ones get 200;
                      every request is counted
  /hits?key=K         {"hits": requests seen for key K by /drop_once}
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
OData paging emulation:
  GET /odata/Rows?total=N&size=K[&skip=S][&run=R&fault=F&fault_skip=S2][&next_first=1]
      rows S..min(S+K,N)-1 with tricky strings, then an absolute @odata.nextLink while rows
      remain.  Fault F hits the first request of run R for the page at skip S2, once:
      429 (Retry-After: 3), 503, 400 (F&O error body), drop (half the page, then close),
      500always (every request of that page).
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
faults_done = set()
hits = {}
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
        elif route == "/drop_once":
            key = q.get("key", [""])[0]
            with lock:
                hits[key] = hits.get(key, 0) + 1
                first = hits[key] == 1
            if first:
                self.close_connection = True
                self.wfile.flush()
                self.connection.close()
            else:
                self.send_body(200, b'{"dropped":false}')
        elif route == "/hits":
            with lock:
                n = hits.get(q.get("key", [""])[0], 0)
            self.send_body(200, json.dumps({"hits": n}).encode())
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
        elif route == "/odata/Rows":
            self.rows(q)
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

    def rows(self, q):
        g = lambda k, d: q.get(k, [d])[0]
        total, size, skip = int(g("total", "0")), int(g("size", "10")), int(g("skip", "0"))
        run, fault, fault_skip = g("run", ""), g("fault", ""), int(g("fault_skip", "-1"))
        hit = False
        if fault and skip == fault_skip:
            with lock:
                key = (run, fault_skip)
                if fault == "500always" or key not in faults_done:
                    faults_done.add(key)
                    hit = True
        if hit and fault == "429":
            self.send_body(429, b'{"error":{"code":"","message":"Too many requests"}}',
                           extra={"Retry-After": "3"})
            return
        if hit and fault in ("503", "500always"):
            self.send_body(503 if fault == "503" else 500, b'{"error":{"code":"","message":"busy"}}')
            return
        if hit and fault == "400":
            self.send_body(400, json.dumps({"error": {"code": "", "message": "An error has occurred.",
                "innererror": {"message": "Field 'Foo' in $filter is not valid.",
                               "type": "Microsoft.OData.ODataException", "stacktrace": ""}}}).encode())
            return
        end = min(total, skip + size)
        rows = [{"ID": i, "Name": 'row %d "quoted" \\ {brace} [bracket], comma' % i,
                 "Amount": 12.50, "Unicode": "caf\u00e9 \u2603",
                 "Nested": {"a": [1, 2, {"b": "]}"}], "e": None}} for i in range(skip, end)]
        doc = {"@odata.context": "http://x/data/$metadata#Rows", "value": rows}
        if end < total:
            nxt = "http://%s:%d/odata/Rows?total=%d&size=%d&skip=%d" % (
                self.server.server_address[0], self.server.server_address[1], total, size, end)
            if run:
                nxt += "&run=%s&fault=%s&fault_skip=%d" % (run, fault, fault_skip)
            if g("next_first", ""):
                nxt += "&next_first=1"
                doc = {"@odata.nextLink": nxt, "value": rows}
            else:
                doc["@odata.nextLink"] = nxt
        body = json.dumps(doc, indent=None if skip % 2 else 1).encode()
        if hit and fault == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.send_body(200, body)

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
