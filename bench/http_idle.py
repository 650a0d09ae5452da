#!/usr/bin/env python3
"""Open N keep-alive connections to a server, one request each, and keep them idle; print the
server's resident memory per connection (RSS growth / N, bytes).

Usage: http_idle.py PORT PID N PATH
The server runs as process PID. Each connection sends `GET PATH` and reads the whole response,
so it is an idle keep-alive connection afterwards (≈ a browser's spare connections).
"""
import socket
import sys


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def one(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += s.recv(65536)
    return s


def main():
    port, pid, n, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    warm = [one(port, path) for _ in range(100)]  # allocator and pools warmed up
    for s in warm:
        s.close()
    before = rss(pid)
    conns = [one(port, path) for _ in range(n)]
    after = rss(pid)
    print(f"{(after - before) / n:.0f}")
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
