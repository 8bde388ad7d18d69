"""Writes to wsgi.errors: two whole lines, a partial line that flush() completes, and logging."""
import logging


def application(environ, start_response):
    errors = environ["wsgi.errors"]
    errors.write("errors-stream line one\nerrors-stream line two\n")
    errors.write("errors-stream partial")
    errors.flush()
    log = logging.getLogger("errors_stream_app")
    handler = logging.StreamHandler(errors)
    log.addHandler(handler)
    log.warning("errors-stream via logging")
    log.removeHandler(handler)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"logged"]
