"""Reports whether app A's marks leaked into this interpreter."""
import json
import string

WHO = "B"


def application(environ, start_response):
    import sys
    body = json.dumps({
        "app": "B",
        "marker": getattr(string, "MARKER", None),
        "a_loaded": any(getattr(sys.modules[m], "COUNTER", None) is not None
                        for m in list(sys.modules) if m.startswith("_subinterp_app_")),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
