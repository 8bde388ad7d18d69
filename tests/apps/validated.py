"""A corpus of small apps, each wrapped in wsgiref.validate.validator with its warnings turned
into errors: any PEP 3333 slip on our side (environ, input, errors, start_response, close) is a
500 with a traceback."""
import warnings
from wsgiref.validate import validator

warnings.simplefilter("error")


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def echo(environ, start_response):
    stream = environ["wsgi.input"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    first = stream.readline(10)
    rest = stream.read(length - len(first)) if length > len(first) else b""
    lines = stream.readlines(100)
    for line in stream:
        rest += line
    environ["wsgi.errors"].write("")
    environ["wsgi.errors"].writelines([])
    environ["wsgi.errors"].flush()
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [first, rest] + lines


def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        for i in range(3):
            yield b"part%d;" % i
    return gen()


def empty(environ, start_response):
    start_response("204 No Content", [])
    return []


def write_callable(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written;")
    return [b"returned"]


def head_or_get(environ, start_response):
    body = b"same headers for HEAD and GET"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def file_response(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/x-python")])
    return environ["wsgi.file_wrapper"](open(__file__, "rb"), 4096)


APPS = {
    "/hello": validator(hello),
    "/echo": validator(echo),
    "/stream": validator(stream),
    "/empty": validator(empty),
    "/write": validator(write_callable),
    "/head": validator(head_or_get),
    "/file": validator(file_response),
}


def application(environ, start_response):
    return APPS[environ["PATH_INFO"]](environ, start_response)
