"""Return-value errors: /str, /bytes, /iter-raises, /close-raises, /close-raises-early."""


class RaisesInIter:
    def __iter__(self):
        raise ValueError("__iter__ refuses on purpose")

    def close(self):
        pass


class RaisesInClose:
    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        raise OSError("close() fails on purpose")


def application(environ, start_response):
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    if path == "/str":
        return "a str, not an iterable of bytes"
    if path == "/bytes":
        return b"bytes, not an iterable of bytes"
    if path == "/iter-raises":
        return RaisesInIter()
    if path == "/close-raises":
        return RaisesInClose([b"complete body"])
    return [b"ok"]
