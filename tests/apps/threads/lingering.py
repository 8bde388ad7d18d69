"""Starts a non-daemon thread at import that never ends: Py_EndInterpreter would join it
forever."""
import threading
import time


def forever():
    while True:
        time.sleep(0.05)


threading.Thread(target=forever, name="lingering").start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"generation %d" % environ["mod_subinterp.generation"]]
