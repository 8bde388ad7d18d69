"""Each path breaks one start_response or body rule of PEP 3333."""
import sys


def application(environ, start_response):
    rule = environ["PATH_INFO"].strip("/")
    ok = [("Content-Type", "text/plain")]
    if rule == "bad-status":
        start_response("OK", ok)
    elif rule == "status-code-600":
        start_response("600 Nope", ok)
    elif rule == "status-bytes":
        start_response(b"200 OK", ok)
    elif rule == "header-name-space":
        start_response("200 OK", [("X Bad", "v")])
    elif rule == "header-crlf":
        start_response("200 OK", [("X-Split", "a\r\nSet-Cookie: evil=1")])
    elif rule == "header-nonlatin1":
        start_response("200 OK", [("X-Text", "snowman \u2603")])
    elif rule == "header-not-tuple":
        start_response("200 OK", [["X-List", "v"]])
    elif rule == "headers-tuple":
        start_response("200 OK", (("X-A", "b"),))
    elif rule == "hop-by-hop":
        start_response("200 OK", [("Connection", "close")])
    elif rule == "twice":
        start_response("200 OK", ok)
        start_response("200 OK", ok)
    elif rule == "no-start-response":
        return [b"body without headers"]
    elif rule == "str-body":
        start_response("200 OK", ok)
        return ["text is not bytes"]
    elif rule == "none-result":
        start_response("200 OK", ok)
        return None
    elif rule == "exc-info-before-headers":
        start_response("200 OK", ok)
        try:
            raise ValueError("handled by the app")
        except ValueError:
            start_response("503 Service Unavailable", ok, sys.exc_info())
        return [b"replaced status"]
    elif rule == "exc-info-after-headers":
        return exc_after(start_response)
    else:
        start_response("200 OK", ok)
        return [b"valid"]
    return [b"should not be sent"]


def exc_after(start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"already sent;"
    try:
        raise KeyError("too late")
    except KeyError:
        start_response("500 Internal Server Error", [], sys.exc_info())
    yield b"never"
