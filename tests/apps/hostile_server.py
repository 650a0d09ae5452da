#!/usr/bin/env python3
"""A server that answers HTTP requests badly on purpose, on 127.0.0.1, with raw bytes.

Prints "PORT <n>" on its first line of stdout, then serves until killed (one thread per
connection; every connection ends after one answer). Routes (the path's first part):
  /hello            "hello\\r\\n", not HTTP, then closes
  /close            reads the request and closes without a byte (a clean FIN)
  /reset            reads the request and resets the connection (RST)
  /bigheader        a 200 whose one header is 10 MB long
  /bigbody/<n>      a 200 JSON array of <n> bytes (Content-Length set)
  /reason           a 500 whose reason phrase holds terminal escapes and a BEL
  /mixed            a JSON array with a number, a string and an object in it
  /nul              a JSON array whose object's title holds a NUL character
  /formula          a JSON array of objects whose values start with = + - @ TAB CR
  /people/<n>/<size> n people, each naming film URLs /films/<i>/<size> (fan-out)
  /films/<i>/<size> a film object of about <size> bytes (many short strings)
  /json             a JSON array of one film
  /loop/<n>         a 302 to /loop/<n+1>, without "Connection: close", then closes: a
                    redirect loop whose every reused connection is found dead
  /lazyloop/<n>     a 302 to /lazyloop/<n+1>, without "Connection: close"; the connection
                    stays open until the next request on it, which is answered with a reset:
                    every reuse fails, every retry on a new connection gets the next 302
  /manyheaders      a 200 with 10 MB of headers in lines of 1000 bytes
  /c1               a 500 whose reason phrase holds a raw 8-bit CSI (0x9b), the UTF-8
                    form of one, invalid UTF-8 and valid non-ASCII text
  /slow             accepts, reads the request and answers nothing for 30 s
  /stall            a 200 promising 100 bytes, sends 10 and then nothing for 30 s
"""
import json
import socket
import struct
import sys
import threading


def json_reply(body, status="200 OK"):
    return (
        "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        "Connection: close\r\n\r\n" % (status, len(body))
    ).encode() + body


def film(i, size):
    pad = []
    chunk = "x" * 1000
    for _ in range(max(0, size // 1004)):
        pad.append(chunk)
    return json.dumps({"id": "f%d" % i, "title": "Film %d" % i, "pad": pad}).encode()


def send_all(conn, data):
    try:
        view = memoryview(data)
        while view:
            n = conn.send(view[: 1 << 20])
            view = view[n:]
    except OSError:
        pass  # the client gave up (a limit, a timeout): not an error here


def answer(conn, path):
    parts = [p for p in path.split("?")[0].split("/") if p]
    kind = parts[0] if parts else ""
    if kind == "hello":
        send_all(conn, b"hello\r\n")
    elif kind == "close":
        pass
    elif kind == "reset":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif kind == "bigheader":
        head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (10 << 20) + b"\r\n"
        send_all(conn, head + b"Content-Length: 2\r\n\r\n[]")
    elif kind == "bigbody" and len(parts) == 2 and parts[1].isdigit():
        n = int(parts[1])
        head = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n[" % n).encode()
        send_all(conn, head)
        left = n - 2
        while left > 0:
            k = min(left, 1 << 20)
            send_all(conn, b" " * k)
            left -= k
        send_all(conn, b"]")
    elif kind == "reason":
        send_all(conn, b"HTTP/1.1 500 \x1b[31mBoom\x1b]0;owned\x07\r\nContent-Length: 2\r\n\r\n{}")
    elif kind == "mixed":
        send_all(conn, json_reply(b'[{"title": "A"}, 42, "text"]'))
    elif kind == "nul":
        send_all(conn, json_reply(b'[{"title": "a\\u0000b", "release_date": "1986"}]'))
    elif kind == "formula":
        rows = [{"title": t, "release_date": "1986"} for t in ("=1+2", "+x", "-5", "@SUM(A1)", "\tt", "\rr", "ok")]
        send_all(conn, json_reply(json.dumps(rows).encode()))
    elif kind == "people" and len(parts) == 3:
        n, size = int(parts[1]), int(parts[2])
        rows = [{"name": "P%d" % i, "films": ["https://ghibliapi.herokuapp.com/films/%d/%d" % (i, size)]} for i in range(n)]
        send_all(conn, json_reply(json.dumps(rows).encode()))
    elif kind == "films" and len(parts) == 3:
        send_all(conn, json_reply(film(int(parts[1]), int(parts[2]))))
    elif kind == "loop":
        n = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        send_all(conn, b"HTTP/1.1 302 Found\r\nLocation: /loop/%d\r\nContent-Length: 0\r\n\r\n" % (n + 1))
    elif kind == "lazyloop":
        n = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        send_all(conn, b"HTTP/1.1 302 Found\r\nLocation: /lazyloop/%d\r\nContent-Length: 0\r\n\r\n" % (n + 1))
        conn.settimeout(30)
        try:
            conn.recv(65536)
        except OSError:
            pass
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif kind == "manyheaders":
        line = b"X-Many: " + b"a" * 990 + b"\r\n"
        send_all(conn, b"HTTP/1.1 200 OK\r\n" + line * 10240 + b"Content-Length: 2\r\n\r\n[]")
    elif kind == "c1":
        send_all(conn, b"HTTP/1.1 500 Bad \x9b31m raw C1 \xc2\x9b \xff\xc3 caf\xc3\xa9\r\nContent-Length: 2\r\n\r\n{}")
    elif kind == "stall":
        send_all(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[         ")
        conn.settimeout(30)
        try:
            conn.recv(1)
        except OSError:
            pass
    elif kind == "slow":
        conn.settimeout(30)
        try:
            conn.recv(1)
        except OSError:
            pass
    elif kind == "json":
        send_all(conn, json_reply(b'[{"title": "Castle in the Sky", "release_date": "1986"}]'))
    else:
        send_all(conn, json_reply(b'{"error": "no such route"}', "404 Not Found"))


def handle(conn):
    try:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            got = conn.recv(4096)
            if not got:
                return
            data += got
        line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        answer(conn, line[1] if len(line) > 1 else "/")
    except OSError:
        pass
    finally:
        conn.close()


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("PORT %d" % srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
