"""Streams a page whose middle is an SSI include of another mount of the same pool: mod_include
runs /inner as a request nested in this one, on this thread, while this app's generator is
suspended in the same interpreter."""
import time


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])

    def body():
        time.sleep(0.6)
        yield b"<p>outer</p>\n"
        yield b'<!--#include virtual="/inner/sleep?0.8" -->\n'
        end = time.monotonic() + 3
        while time.monotonic() < end:
            time.sleep(0.01)
        yield b"<p>outer done</p>\n"
    return body()
