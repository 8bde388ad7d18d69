"""An app whose import takes 4 s (a big framework, a warm-up query)."""
import time

time.sleep(4)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slow but here"]
