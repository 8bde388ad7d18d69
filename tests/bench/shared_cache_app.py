"""The shared-cache benchmark's app: ?backend=shared|redis|dict&op=get|set|incr&n=N runs N
operations inside the request and answers how long they took (tests/bench/shared_cache.py)."""
import json
import os
import threading
import time

from mod_subinterp.shared import cache as shared

VALUE = b"x" * 100           # a typical small cached fragment
KEYS = ["bench:%d" % i for i in range(1000)]
local = {}                   # per interpreter: what an app has without a shared store
local_lock = threading.Lock()
_redis = None


def redis_client():
    global _redis
    if _redis is None:
        import redis
        _redis = redis.Redis(host="127.0.0.1", port=int(os.environ.get("SI_BENCH_REDIS_PORT",
                                                                       "0") or 0))
    return _redis


def local_incr(key):
    with local_lock:   # what a correct per-interpreter counter needs with threads
        local[key] = local.get(key, 0) + 1
        return local[key]


def operations(backend):
    if backend == "shared":
        return shared.get, shared.set, shared.incr
    if backend == "redis":
        r = redis_client()
        return r.get, r.set, r.incr
    return local.get, local.__setitem__, local_incr


def application(environ, start_response):
    q = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    if "redis_port" in q:
        os.environ["SI_BENCH_REDIS_PORT"] = q["redis_port"]
    get, put, incr = operations(q["backend"])
    n, op = int(q["n"]), q["op"]
    started = time.perf_counter()
    if op == "get":
        for i in range(n):
            get(KEYS[i % 1000])
    elif op == "set":
        for i in range(n):
            put(KEYS[i % 1000], VALUE)
    else:
        for i in range(n):
            incr("bench:counter")
    body = json.dumps({"ops": n, "seconds": time.perf_counter() - started,
                       "interpreter": environ["mod_subinterp.interpreter"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
