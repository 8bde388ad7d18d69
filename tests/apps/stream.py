"""Streams: /gen yields chunks with pauses, /write uses the write() callable, /empty-first
yields b'' before its first real chunk, /late-start calls start_response inside the generator."""
import time


def application(environ, start_response):
    path = environ["PATH_INFO"]
    pause = float(environ.get("QUERY_STRING") or 0.5)
    if path == "/gen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen(pause)
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first;")
        time.sleep(pause)
        write(b"second;")
        return [b"third;"]
    if path == "/empty-first":
        start_response("201 Created", [("Content-Type", "text/plain")])
        return iter([b"", b"", b"body"])
    if path == "/late-start":
        return late(start_response)
    if path == "/no-body":
        start_response("204 No Content", [])
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such stream"]


def gen(pause):
    for i in range(3):
        yield b"chunk%d;" % i
        time.sleep(pause)


def late(start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Late", "yes")])
    yield b"late"
