"""Holds its interpreter: /sleep?S sleeps S seconds in Python (interruptible), /spin?S spins in a
pure-Python loop for S seconds, /csleep?S sleeps in one C call (time.sleep), /ok answers."""
import time


def application(environ, start_response):
    path = environ["PATH_INFO"]
    seconds = float(environ["QUERY_STRING"] or 0)
    if path == "/sleep":
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.01)
    elif path == "/spin":
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    elif path == "/csleep":
        time.sleep(seconds)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done %s" % path.encode()]
