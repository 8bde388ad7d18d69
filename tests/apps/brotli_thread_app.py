"""Imports brotlicffi (a cffi extension whose init imports _cffi_backend) from an app thread, the
first import of it in the process."""
import threading


def application(environ, start_response):
    result = []

    def work():
        try:
            import brotlicffi
            result.append(brotlicffi.decompress(brotlicffi.compress(b"brotli ok")))
        except Exception as exc:   # reported in the body: the test reads it
            result.append(("%s: %s" % (type(exc).__name__, exc)).encode())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return result
