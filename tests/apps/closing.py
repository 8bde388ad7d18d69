"""Counts close() calls of its response iterables, per interpreter.  /count reports them;
/ok returns normally, /fail raises mid-iteration, /abort yields slowly for a client that leaves."""
import json
import time

counts = {"closed": 0, "started": 0}


class Body:
    def __init__(self, chunks, fail=False, pause=0):
        self.chunks = chunks
        self.fail = fail
        self.pause = pause
        counts["started"] += 1

    def __iter__(self):
        for chunk in self.chunks:
            yield chunk
            if self.pause:
                time.sleep(self.pause)
        if self.fail:
            raise RuntimeError("failing on purpose after the first chunk")

    def close(self):
        counts["closed"] += 1


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/count":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(counts).encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    if path == "/fail":
        return Body([b"partial"], fail=True)
    if path == "/abort":
        return Body([b"x" * 65536] * 2000, pause=0.01)
    return Body([b"one ", b"two"])
