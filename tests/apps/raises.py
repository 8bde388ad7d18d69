"""Raises where ?where= says: before start_response, after it, or in the middle of the body."""


def application(environ, start_response):
    where = environ["QUERY_STRING"]
    if where == "before":
        raise ZeroDivisionError("raised before start_response on purpose")
    start_response("200 OK", [("Content-Type", "text/plain")])
    if where == "after":
        raise LookupError("raised after start_response on purpose")
    if where == "midstream":
        return midstream()
    return [b"fine"]


def midstream():
    yield b"x" * 1000
    raise RuntimeError("raised in the middle of the body on purpose")
