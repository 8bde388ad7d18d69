"""wsgi.file_wrapper: /plain, /advanced (position moved first), /limited (Content-Length smaller
than the file), /bytesio (no descriptor: blockwise), /closed reports whether close() ran."""
import io
import json
import os

DATA = os.path.join(os.path.dirname(__file__), "data.bin")
state = {"closed": 0}


class Tracked(io.FileIO):
    def close(self):
        if not self.closed:
            state["closed"] += 1
        super().close()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    wrap = environ["wsgi.file_wrapper"]
    if path == "/closed":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(state).encode()]
    if path == "/plain":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrap(Tracked(DATA, "r"))
    if path == "/advanced":
        f = open(DATA, "rb")
        f.read(1000)          # buffered: the OS position is further on than tell() says
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrap(f)
    if path == "/limited":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", "5000")])
        return wrap(open(DATA, "rb"))
    if path == "/bytesio":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrap(io.BytesIO(b"in memory " * 1000), 777)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"?"]
