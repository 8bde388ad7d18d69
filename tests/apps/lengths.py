"""Content-Length mismatches: /more sends more than it declares, /less fewer, /exact right."""


def application(environ, start_response):
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    if path == "/more":
        return [b"0123456789", b"EXTRA BYTES"]
    if path == "/more-gen":
        return (chunk for chunk in [b"01234", b"56789ABCDEF", b"never"])
    if path == "/less":
        return [b"01234"]
    return [b"0123456789"]
