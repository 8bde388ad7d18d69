"""Round-trips bytes through brotlicffi: a cffi extension whose init imports _cffi_backend."""
import brotlicffi
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [brotlicffi.decompress(brotlicffi.compress(b"brotli ok"))]
