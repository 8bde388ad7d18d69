"""Marks a stdlib module and a global; isolated_b.py must never see either."""
import json
import string

string.MARKER = "set by app A"
COUNTER = {"hits": 0}


def application(environ, start_response):
    import sys
    COUNTER["hits"] += 1
    body = json.dumps({
        "app": "A",
        "marker": getattr(string, "MARKER", None),
        "hits": COUNTER["hits"],
        "b_loaded": any(m.startswith("_subinterp_app_") and getattr(sys.modules[m], "WHO", "") == "B"
                        for m in list(sys.modules)),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
