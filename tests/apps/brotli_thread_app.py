"""Imports brotlicffi (a cffi extension whose init imports _cffi_backend) from an app thread, the
first import of it in the process; /direct imports it on the request's own (worker) thread."""
import threading


def application(environ, start_response):
    result = []
    if environ["PATH_INFO"] == "/direct":
        import brotlicffi
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [brotlicffi.decompress(brotlicffi.compress(b"brotli ok"))]

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
