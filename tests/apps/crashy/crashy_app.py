"""Imports crashy, which aborts the process outside the main interpreter."""
import crashy


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"crashy loaded %d" % crashy.loaded]
