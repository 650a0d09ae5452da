#!/usr/bin/env python3
"""An API that fails in every way the flagship programs must handle, on 127.0.0.1.

Prints "PORT <n>" on its first line of stdout, then serves until killed. Every route ends
with the resource the programs ask for (/films, /people, ...), after a prefix saying how
to fail:
  /ok/<resource>              200, the resource's list from --data (JSON, 2-space indent)
  /status/<code>/<resource>   that status, with a small JSON body
  /notjson/<resource>         200 text/html that is not JSON
  /object/<resource>          200 with a JSON object instead of an array
  /truncated/<resource>       200 with a JSON array cut in the middle
  /hang/<resource>            accepts the request and never answers
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, code, body, ctype="application/json; charset=utf-8"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) < 2:
            return self.send_body(404, b'{"error": "no such route"}')
        kind, resource = parts[0], parts[-1]
        if kind == "ok":
            body = json.dumps(DATA.get(resource, []), indent=2, ensure_ascii=False)
            return self.send_body(200, body.encode())
        if kind == "status" and len(parts) == 3 and parts[1].isdigit():
            return self.send_body(int(parts[1]), b'{"error": "as asked"}')
        if kind == "notjson":
            return self.send_body(200, b"<html><body>Not JSON</body></html>", "text/html")
        if kind == "object":
            return self.send_body(200, b'{"films": "not a list"}')
        if kind == "truncated":
            return self.send_body(200, b'[{"title": "Castle in the Sky", "release_da')
        if kind == "hang":
            threading.Event().wait()
        return self.send_body(404, b'{"error": "no such route"}')


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (a cancelled lookup, a timeout) is not an error here


def main():
    global DATA
    if len(sys.argv) == 3 and sys.argv[1] == "--data":
        with open(sys.argv[2], encoding="utf-8") as f:
            DATA = json.load(f)
    server = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
