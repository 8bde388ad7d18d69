"""Imports oncext, which loads in one interpreter per process."""
import oncext  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"oncext"]
