"""Faults on purpose: /pid, /exit (os._exit), /segv (a NULL read through ctypes), /memory
(allocates until MemoryError)."""
import os


def application(environ, start_response):
    what = environ["PATH_INFO"]
    if what == "/exit":
        os._exit(3)
    if what == "/segv":
        import ctypes
        ctypes.string_at(0)
    if what == "/memory":
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
