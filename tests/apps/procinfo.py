"""Says which process and user served the request (process pools); /read?PATH reads a file,
/sleep?S holds the request, /abort kills the process, /download?N streams N MiB, /file?PATH
sends a file through wsgi.file_wrapper, /upload reads the body in 64 KiB pieces and reports its
length and SHA-256, /status?CODE answers with that status, /raise raises before start_response,
/environ returns the environ's str values."""
import grp
import hashlib
import json
import os
import pwd
import threading
import time


def reply(start_response, data, status="200 OK"):
    body = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ["QUERY_STRING"]
    if path == "/read":
        try:
            with open(query) as f:
                return reply(start_response, {"read": f.read()})
        except OSError as e:
            return reply(start_response, {"error": type(e).__name__})
    if path == "/sleep":
        time.sleep(float(query or 1))
    if path == "/abort":
        os.abort()
    if path == "/download":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        chunk = b"z" * (1 << 20)
        return (chunk for _ in range(int(query)))
    if path == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(query, "rb"), 1 << 20)
    if path == "/upload":
        digest, length, stream = hashlib.sha256(), 0, environ["wsgi.input"]
        while True:
            piece = stream.read(65536)
            if not piece:
                break
            digest.update(piece)
            length += len(piece)
        return reply(start_response, {"length": length, "sha256": digest.hexdigest()})
    if path == "/status":
        return reply(start_response, {}, status=query + " Chosen")
    if path == "/raise":
        raise RuntimeError("procinfo raised on purpose")
    if path.endswith("/environ"):
        return reply(start_response, {k: v for k, v in environ.items() if isinstance(v, str)})
    return reply(start_response, {
        "pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid(), "gid": os.getgid(),
        "user": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name,
        "pool": environ["mod_subinterp.pool"], "interpreter": environ["mod_subinterp.interpreter"],
        "thread": threading.get_native_id(), "multiprocess": environ["wsgi.multiprocess"],
    })
