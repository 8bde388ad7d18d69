"""Pure-Python CPU work: ?n= loop iterations (default 3,000,000).  Answers "total elapsed cpu
start end": wall and this thread's CPU seconds for the loop, and when it ran (time.monotonic,
comparable between the threads of one process)."""
import time


def application(environ, start_response):
    n = int(environ["QUERY_STRING"] or 3_000_000)
    start, cpu = time.monotonic(), time.thread_time()
    total = 0
    for i in range(n):
        total += i * i % 7
    end = time.monotonic()
    body = ("%d %.4f %.4f %.6f %.6f\n" % (total, end - start, time.thread_time() - cpu,
                                          start, end)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
