"""Starts a daemon thread at import that never ends (a metrics or transport thread that nobody
stops): its interpreter can never be ended safely."""
import threading
import time


def forever():
    while True:
        time.sleep(0.05)


threading.Thread(target=forever, name="forever-daemon", daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"generation %d" % environ["mod_subinterp.generation"]]
