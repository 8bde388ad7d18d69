"""Answers with the secret its pool's leakext got from leakdep at init."""
import leakext


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [leakext.SECRET.encode()]
