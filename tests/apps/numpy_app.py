"""Uses numpy, whose C core refuses to load in sub-interpreters."""
import numpy


def application(environ, start_response):
    body = ("numpy %s sum=%d" % (numpy.__version__, int(numpy.arange(10).sum()))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
