"""Starts, at import, a thread that takes jobs from the pool's queue "jobs" for ever and counts
them in the shared cache: a consumer that never ends by itself (tests/test_shared_state.py)."""
import json
import threading

from mod_subinterp.shared import Queue, cache

jobs = Queue("jobs")


def consume():
    try:
        while True:
            job = jobs.get()
            cache.incr("consumed")
            cache.incr("consumed:" + job)
    finally:
        cache.incr("consumers_ended")   # SystemExit, once the interpreter is ending


threading.Thread(target=consume, name="consumer").start()   # not a daemon


def application(environ, start_response):
    q = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    if environ["PATH_INFO"] == "/job":
        jobs.put(q["id"], timeout=5)
    out = {"consumed": cache.get("consumed", 0), "ended": cache.get("consumers_ended", 0),
           "interpreter":
           environ["mod_subinterp.interpreter"], "generation":
           environ["mod_subinterp.generation"], "threads": threading.active_count()}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
