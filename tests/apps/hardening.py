"""Application patterns that once took a child down or desynced a connection.

/upload          reads the whole body (the nested-request repro: LimitRequestBody + ErrorDocument)
/err             the ErrorDocument: says which error it stands for
/pinned-upload   /upload, printing the thread's CPU set before and after the read (a nested
                 ErrorDocument may run during it)
/handoff         hands wsgi.input, write() and wsgi.errors to a thread and answers 202 at once;
                 the thread keeps using them after the request ended
/handoff-result  what that thread saw (JSON)
/thread-read     a thread reads the body while the request waits for it (allowed: serialized)
/thread-print    print() from the request's thread and from other threads, during and after
/smuggle         close() calls write() with a whole forged response after the body went out
/race-write      4 threads write() a forged response in a loop while the request returns a
                 chunked body whose close() releases the GIL; they stop at their first error
/starve?S        a thread write()s in a loop for S seconds while the request thread writes too
/status?N        answers with status N; /raise raises; /pid says which child answered
/file            data.bin through wsgi.file_wrapper
/cl-file         write()s 5 bytes, then returns a file_wrapper, with Content-Length 10
/interim         start_response with a 1xx status
/cdll-sleep?S    holds its interpreter's GIL in one C call for S seconds (ctypes.PyDLL)
/spin?S          a pure-Python loop of S seconds
/slow-fileno?S   a file_wrapper whose fileno() spins for S seconds (timeouts must not be lost)
/echo            the body back
/hello           hello
"""
import ctypes
import io
import json
import os
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
seen = {}


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def use_after_request(input_stream, write, errors):
    """Reads the body as it trickles in, racing the request's end, then uses write() and
    wsgi.errors once the request has surely ended."""
    outcome = {"bytes": 0}
    try:
        while True:
            chunk = input_stream.read(4096)
            if not chunk:
                break
            outcome["bytes"] += len(chunk)
        outcome["read"] = "eof"
    except Exception as exc:              # what a careless app would see
        outcome["read"] = type(exc).__name__
    time.sleep(0.3)
    for name, action in (("write", lambda: write(b"late")),
                         ("errors", lambda: errors.write("handoff: a line after the request\n"))):
        try:
            action()
            outcome[name] = "ok"
        except Exception as exc:
            outcome[name] = type(exc).__name__
    seen["handoff"] = outcome


class SlowFileno(io.BytesIO):
    def __init__(self, seconds):
        super().__init__(b"x" * 100)
        self.seconds = seconds

    def fileno(self):
        spin(self.seconds)
        raise OSError("no descriptor")


class WritesInClose:
    def __init__(self, write):
        self.write = write

    def __iter__(self):
        yield b"honest"

    def close(self):
        self.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Smuggled: yes\r\n\r\nsmuggle")


FORGED = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Forged: yes\r\n\r\nforged"


class RacingWriters:
    """A chunked body; app threads write() until close(), which sleeps (the GIL released) before
    it stops them: some of them wait for the I/O guard while the response ends."""

    def __init__(self, write):
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self.hammer, args=(write,)) for _ in range(4)]
        for t in self.threads:
            t.start()

    def hammer(self, write):
        while not self.stop.is_set():
            try:
                write(FORGED)
            except Exception as exc:
                self.errors.append(type(exc).__name__)
                return

    def __iter__(self):
        yield b"body"

    def close(self):
        time.sleep(0.05)
        self.stop.set()
        for t in self.threads:
            t.join()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    plain = [("Content-Type", "text/plain")]
    if path == "/upload":
        body = environ["wsgi.input"].read()
        start_response("200 OK", plain)
        return [b"read %d bytes" % len(body)]
    if path == "/pinned-upload":
        before = sorted(os.sched_getaffinity(0))
        try:
            body = environ["wsgi.input"].read()
        finally:
            print("pinned-upload: cpus before %s after %s" % (before,
                                                              sorted(os.sched_getaffinity(0))))
        start_response("200 OK", plain)
        return [b"read %d bytes" % len(body)]
    if path == "/err":
        status = environ.get("REDIRECT_STATUS", "500")
        print("err: interpreter %s cpus %s" % (environ["mod_subinterp.interpreter"],
                                               sorted(os.sched_getaffinity(0))))
        start_response("%s Error" % status, plain)
        return [b"error document for %s" % status.encode()]
    if path == "/handoff":
        write = start_response("202 Accepted", plain)
        seen.pop("handoff", None)
        threading.Thread(target=use_after_request,
                         args=(environ["wsgi.input"], write, environ["wsgi.errors"])).start()
        return [b"accepted"]
    if path == "/handoff-result":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(seen.get("handoff")).encode()]
    if path == "/thread-print":
        # print() is sys.stdout, shared by the interpreter: from the request's own thread it
        # names the client; from another thread, during or after the request, it cannot.
        print("thread-print: the request's thread")
        during = threading.Thread(target=print, args=("thread-print: a thread, during",))
        during.start()
        during.join()
        threading.Timer(0.3, print, args=("thread-print: a thread, after",)).start()
        start_response("200 OK", plain)
        return [b"printed"]
    if path == "/thread-read":
        box = []
        reader = threading.Thread(target=lambda: box.append(environ["wsgi.input"].read()))
        reader.start()
        reader.join()
        start_response("200 OK", plain)
        return [box[0]]
    if path == "/smuggle":
        write = start_response("200 OK", plain + [("Content-Length", "6")])
        return WritesInClose(write)
    if path == "/race-write":
        return RacingWriters(start_response("200 OK", plain))
    if path == "/starve":
        write = start_response("200 OK", plain)
        stop = time.monotonic() + float(query or 1)
        def hog():
            while time.monotonic() < stop:
                try:
                    write(b"t")
                except Exception:
                    return
        hogger = threading.Thread(target=hog)
        hogger.start()
        rounds = 0
        while time.monotonic() < stop:
            write(b"r")
            rounds += 1
        hogger.join()
        return [b"\nrequest thread wrote %d times" % rounds]
    if path == "/cl-file":
        write = start_response("200 OK", plain + [("Content-Length", "10")])
        write(b"12345")
        return environ["wsgi.file_wrapper"](open(os.path.join(HERE, "data.bin"), "rb"))
    if path == "/status":
        start_response("%s Chosen" % (query or "200"), plain)
        return [b"status " + (query or "200").encode()]
    if path == "/raise":
        raise RuntimeError("raised on purpose")
    if path == "/pid":
        start_response("200 OK", plain)
        return [b"%d" % os.getpid()]
    if path == "/file":
        # close() of the wrapper closes the file as soon as the response is handed over
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(os.path.join(HERE, "data.bin"), "rb"))
    if path == "/interim":
        start_response("100 Continue", plain)
        return [b"never"]
    if path == "/cdll-sleep":
        ctypes.PyDLL(None).sleep(int(query or 1))   # PyDLL: the GIL stays held
        start_response("200 OK", plain)
        return [b"slept"]
    if path == "/spin":
        spin(float(query or 1))
        start_response("200 OK", plain)
        return [b"spun"]
    if path == "/slow-fileno":
        start_response("200 OK", plain)
        return environ["wsgi.file_wrapper"](SlowFileno(float(query or 1)))
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", plain)
        return [body]
    start_response("200 OK", plain)
    return [b"hello"]
