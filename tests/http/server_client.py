#!/usr/bin/env python3
"""Talk to the test server with Python's http.client; print one line per exchange.

Usage: server_client.py PORT. test_http_server.c compares the output with what it expects.
"""
import http.client
import sys


def main():
    port = int(sys.argv[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    conn.request("GET", "/hello")
    r = conn.getresponse()
    body = r.read().decode()
    print("GET", r.status, r.getheader("Content-Length"), body.strip())
    sock = conn.sock

    conn.request("POST", "/echo", body=b"from python", headers={"X-Test": "yes"})
    r = conn.getresponse()
    print("POST", r.status, r.read().decode().replace("\n", "|"))
    print("same-connection", conn.sock is sock)

    def chunks():
        yield b"one,"
        yield b"two,"
        yield b"three"

    conn.request("PUT", "/echo", body=chunks(), encode_chunked=True)
    r = conn.getresponse()
    print("CHUNKED", r.status, r.read().decode().replace("\n", "|"))

    conn.request("HEAD", "/hello")
    r = conn.getresponse()
    print("HEAD", r.status, r.getheader("Content-Length"), len(r.read()))

    conn.request("GET", "/chunks")
    r = conn.getresponse()
    print("STREAM", r.status, r.getheader("Transfer-Encoding"), r.read().decode())
    print("same-connection", conn.sock is sock)
    conn.close()


if __name__ == "__main__":
    main()
