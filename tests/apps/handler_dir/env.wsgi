"""Answers with the environ as JSON (values that JSON cannot hold become their type name)."""
import json


def application(environ, start_response):
    out = {}
    for key, value in environ.items():
        if isinstance(value, (str, int, bool, float)) or value is None:
            out[key] = value
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = "<%s>" % type(value).__name__
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
