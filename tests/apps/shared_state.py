"""Drives mod_subinterp.shared from requests: each path is one experiment, answered in JSON with
the interpreter that ran it (tests/test_shared_state.py)."""
import json
import math
import queue
import threading
import time

import mod_subinterp
from mod_subinterp.shared import Queue, cache


class Text(str):
    pass


# Every shareable type, edges included; a value set in one interpreter must read back equal,
# of the same type, from any other.
VALUES = {
    "none": None, "true": True, "false": False, "zero": 0, "int": -123456789,
    "int64_min": -2**63, "int64_max": 2**63 - 1, "big": 2**200 + 1, "neg_big": -(2**100),
    "float": 3.141592653589793, "neg_zero": -0.0, "inf": float("inf"), "nan": float("nan"),
    "bytes": bytes(range(256)), "empty_bytes": b"", "str": "caf\u00e9 \u2603 \U0001F600",
    "surrogate": "a\udc80b", "empty_str": "", "nul": "a\x00b",
    "tuple": (1, ("two", b"three", (4.0, None, (True,))), ()), "empty_tuple": (),
}


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a)
                                                      == math.copysign(1, b))
    return a == b


def refused(value, key="k"):
    try:
        cache.set(key, value)
    except (TypeError, ValueError) as e:
        return "%s: %s" % (type(e).__name__, e)
    return None


def incr_many(key, n, threads):
    def work():
        for _ in range(n):
            cache.incr(key)
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def run(path, q):
    if path == "/incr":
        incr_many(q["key"], int(q["n"]), int(q.get("threads", 1)))
        return {"value": cache.get(q["key"])}
    if path == "/get":
        value = cache.get(q["key"], "<missing>")
        return {"value": value if not isinstance(value, bytes) else len(value)}
    if path == "/set":
        ttl = float(q["ttl"]) if "ttl" in q else None
        cache.set(q["key"], q["value"], ttl=ttl)
        return {}
    if path == "/put-values":
        for name, value in VALUES.items():
            cache.set("value:" + name, value)
        return {}
    if path == "/check-values":
        return {"wrong": [name for name, value in VALUES.items()
                          if not same(cache.get("value:" + name), value)]}
    if path == "/refused":
        return {"list": refused([1]), "nested": refused((1, {"a": 1})), "subclass":
                refused(Text("x")), "key": refused_key(), "deep": refused(deep(40)),
                "object": refused(object())}
    if path == "/add":
        return {"first": cache.add(q["key"], 1), "second": cache.add(q["key"], 2),
                "value": cache.get(q["key"])}
    if path == "/delete":
        return {"deleted": cache.delete(q["key"]), "again": cache.delete(q["key"])}
    if path == "/incr-errors":
        cache.set("text", "x")
        cache.set("top", 2**63 - 1)
        out = {}
        for key, name in (("text", "not_int"), ("top", "overflow")):
            try:
                cache.incr(key)
            except (TypeError, OverflowError) as e:
                out[name] = "%s: %s" % (type(e).__name__, e)
        return out
    if path == "/fill":
        size, n = int(q["size"]), int(q["n"])
        for i in range(n):
            cache.set("fill:%d" % i, b"x" * size)
            cache.get("hot")           # keeps "hot" the most recently used
        return {"stats": cache.stats(), "hot": cache.get("hot"), "first": cache.get("fill:0"),
                "last": len(cache.get("fill:%d" % (n - 1)))}
    if path == "/stats":
        return {"stats": cache.stats()}
    if path == "/put":
        timeout = float(q.get("timeout", 0))
        try:
            Queue(q["name"], maxsize=int(q["maxsize"]) if "maxsize" in q else None).put(
                q["value"], timeout=timeout)
        except queue.Full:
            return {"error": "Full"}
        return {}
    if path == "/take":
        timeout = float(q["timeout"]) if "timeout" in q else None
        started = time.monotonic()
        try:
            value = Queue(q["name"]).get(timeout=timeout)
        except queue.Empty:
            return {"error": "Empty", "waited": time.monotonic() - started}
        return {"value": value, "waited": time.monotonic() - started}
    if path == "/huge-tuple":
        # 16 x 16 x 16 x 16 x 16 references to one 4 MiB bytes: an encoding of 4 TiB, whose
        # size a wrapping sum once took for a small one (then a 4 GiB memcpy into it).
        big = b"x" * (4 << 20)
        for _ in range(5):
            big = (big,) * 16
        out = {}
        for name, call in (("set", lambda: cache.set("huge", big)),
                           ("put", lambda: Queue("huge").put(big, timeout=0))):
            try:
                call()
                out[name] = "stored"
            except (ValueError, OverflowError) as e:
                out[name] = "%s: %s" % (type(e).__name__, e)
        return out
    if path == "/long-timeout":
        try:
            Queue("long").get(timeout=1e10)
        except OverflowError as e:
            return {"error": "OverflowError: %s" % e}
        except queue.Empty:
            return {"error": "Empty"}
        return {}
    if path == "/queue-mismatch":
        Queue("fixed", maxsize=3)
        try:
            Queue("fixed", maxsize=4)
        except ValueError as e:
            return {"error": str(e)}
        return {}
    if path == "/clear":
        cache.clear()
        return {"len": len(cache)}
    raise LookupError(path)


def refused_key():
    try:
        cache.get(42)
    except TypeError as e:
        return "TypeError: %s" % e
    return None


def deep(n):
    value = ()
    for _ in range(n):
        value = (value,)
    return value


def application(environ, start_response):
    q = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    out = run(environ["PATH_INFO"], q)
    out["interpreter"] = environ["mod_subinterp.interpreter"]
    out["generation"] = environ["mod_subinterp.generation"]
    out["version"] = mod_subinterp.version
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
