"""Reads the body; remembers the outcome of each read so the tests can ask (/last), and counts
how often the app was called at all (/calls).  ?slow: reads the body, however slowly it comes."""
import json
import threading

state = {"calls": 0, "last": None}
lock = threading.Lock()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path in ("/last", "/calls"):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(state).encode()]
    with lock:
        state["calls"] += 1
    try:
        data = environ["wsgi.input"].read()
        state["last"] = {"ok": len(data)}
    except OSError as e:
        state["last"] = {"oserror": str(e)}
        raise
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"read %d bytes" % len(data)]
