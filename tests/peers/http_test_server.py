#!/usr/bin/env python3
"""A small HTTP/1.1 server for the client tests, bound to 127.0.0.1 on a free port.

Prints "PORT <n>" on its first line of stdout, then serves until killed. Routes:
  /json                 a JSON array of three objects
  /films                the films of the Ghibli data set given with --data
  /chunked              a chunked JSON body in small pieces
  /gzip                 a gzip-encoded body (Content-Encoding: gzip)
  /redirect/<n>         redirects n times, then /json
  /loop                 redirects to itself forever
  /status/<code>        that status with a short body
  /close-mid-body       promises 1000 bytes, sends 10, closes
  /hang                 accepts and never answers
  /bytes/<n>            n bytes of a repeating pattern, chunked, in 64 KiB pieces
  /upload (POST/PUT)    answers "<length> <sha256 hex>" of the body
  /echo-headers         the request headers as JSON
  /not-json             a 200 text/plain body that is not JSON
  /object               a JSON object, not an array
"""
import gzip
import hashlib
import json
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = None
JSON_BODY = json.dumps([{"id": 1, "title": "a"}, {"id": 2, "title": "b"}, {"id": 3, "title": "c"}]).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, code, body, ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/json":
            return self.send_body(200, JSON_BODY)
        if p == "/films":
            return self.send_body(200, json.dumps(DATA["films"], indent=2, ensure_ascii=False).encode())
        if p == "/object":
            return self.send_body(200, b'{"a": 1}')
        if p == "/not-json":
            return self.send_body(200, b"<html>not json</html>", "text/html")
        if p == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(JSON_BODY), 7):
                self.chunk(JSON_BODY[i:i + 7])
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if p == "/gzip":
            return self.send_body(200, gzip.compress(JSON_BODY), extra={"Content-Encoding": "gzip"})
        if p.startswith("/redirect/"):
            n = int(p.rsplit("/", 1)[1])
            loc = "/json" if n <= 1 else "/redirect/%d" % (n - 1)
            return self.send_body(302, b"", "text/plain", {"Location": loc})
        if p == "/loop":
            return self.send_body(302, b"", "text/plain", {"Location": "/loop"})
        if p.startswith("/status/"):
            code = int(p.rsplit("/", 1)[1])
            return self.send_body(code, b'{"error": "status %d"}' % code)
        if p == "/close-mid-body":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.close_connection = True
            return
        if p == "/hang":
            time.sleep(3600)
            return
        if p.startswith("/bytes/"):
            n = int(p.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = bytes(range(256)) * 256
            left = n
            while left > 0:
                part = piece[: min(left, len(piece))]
                self.chunk(part)
                left -= len(part)
            self.wfile.write(b"0\r\n\r\n")
            return
        if p == "/echo-headers":
            return self.send_body(200, json.dumps({k.lower(): v for k, v in self.headers.items()}).encode())
        return self.send_body(404, b'{"error": "not found"}')

    def do_HEAD(self):
        return self.do_GET()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        left = n
        while left > 0:
            part = self.rfile.read(min(left, 1 << 16))
            if not part:
                break
            h.update(part)
            left -= len(part)
        body = ("%d %s" % (n - left, h.hexdigest())).encode()
        return self.send_body(200, body, "text/plain", {"X-Method": self.command})

    do_PUT = do_POST
    do_DELETE = do_POST


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        # A client that goes away mid-body (an aborted request) is expected, not an error.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    global DATA
    if len(sys.argv) > 2 and sys.argv[1] == "--data":
        with open(sys.argv[2], encoding="utf-8") as f:
            DATA = json.load(f)
    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
