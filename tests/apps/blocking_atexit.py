"""An app whose atexit callback never returns: ending its interpreter blocks for good."""
import atexit
import threading

atexit.register(lambda: threading.Event().wait())


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"blocking"]
