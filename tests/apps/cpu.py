"""Pure-Python CPU work: ?n= loop iterations (default 3,000,000), then the elapsed time."""
import time


def application(environ, start_response):
    n = int(environ["QUERY_STRING"] or 3_000_000)
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i % 7
    body = ("%d %.4f\n" % (total, time.perf_counter() - start)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
