"""Two callables: `application`, and `app` for a directory with SubinterpCallableObject app."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the default application"]


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the callable named app"]
