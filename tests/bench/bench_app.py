"""The workloads every contender serves, from this one file (PATH_INFO picks one).

/hello   a 14-byte body
/cpu     about 10 ms of pure-Python work
/mixed   about 2 ms of work, then 20 ms waiting (as on a database)
/stream  1 MiB streamed in 64 KiB chunks
/post    reads a request body (1 MiB in the benchmark) and says how long it was
"""
import time

HELLO = b"Hello, world!\n"
CHUNK = b"x" * 65536


def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/hello":
        body = [HELLO]
    elif path == "/cpu":
        body = [b"%d\n" % work(100_000)]
    elif path == "/mixed":
        work(20_000)
        time.sleep(0.02)
        body = [b"mixed\n"]
    elif path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (CHUNK for _ in range(16))
    elif path == "/post":
        data = environ["wsgi.input"].read()
        body = [b"%d\n" % len(data)]
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such workload\n"]
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(sum(map(len, body))))])
    return body
