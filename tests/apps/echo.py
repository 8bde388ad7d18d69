"""Reads the request body the way ?mode= says and reports what it got, as JSON."""
import hashlib
import json


def read_all(stream, mode):
    if mode == "read":
        return [stream.read()]
    if mode == "read_none":
        return [stream.read(None)]
    if mode == "read_neg":
        return [stream.read(-1)]
    if mode == "read_n":
        parts = []
        while True:
            part = stream.read(1000)
            if not part:
                return parts
            parts.append(part)
    if mode == "readline":
        parts = []
        while True:
            line = stream.readline()
            if not line:
                return parts
            parts.append(line)
    if mode == "readline_n":
        parts = []
        while True:
            line = stream.readline(5)
            if not line:
                return parts
            assert len(line) <= 5
            parts.append(line)
    if mode == "readlines":
        return stream.readlines()
    if mode == "readlines_hint":
        first = stream.readlines(10)
        return first + stream.readlines()
    if mode == "iter":
        return list(stream)
    raise ValueError(mode)


def application(environ, start_response):
    mode = environ["QUERY_STRING"] or "read"
    stream = environ["wsgi.input"]
    parts = read_all(stream, mode)
    data = b"".join(parts)
    after = stream.read()
    report = {
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "parts": len(parts),
        "after": len(after),
        "content_length": environ.get("CONTENT_LENGTH"),
        "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
        "head": data[:64].decode("latin-1"),
    }
    body = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
