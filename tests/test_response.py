"""Responses: streaming, the write() callable, headers at the first non-empty chunk, close(), and
framing that holds whatever the app does (write() after the end, file_wrapper after write(), an
interim status)."""
import os
import socket
import time

from harness import GRANT_APPS as DIRECTORY, eventually, read_streamed, read_until


class TestResponse:
    CONFIG = """
SubinterpScriptAlias /stream {apps}/stream.py
SubinterpPool closing interpreters=1
SubinterpScriptAlias /closing {apps}/closing.py pool=closing
<Directory "{apps}">
    Require all granted
</Directory>
"""

    def test_generator_chunks_are_sent_as_produced(self, httpd):
        first, elapsed, rest = read_streamed(httpd.port, b"/stream/gen?1.5", b"chunk0;",
                                             b"chunk2;")
        assert b"chunk0;" in first and b"chunk1;" not in first
        assert elapsed < 1.4, "the first chunk waited for the generator's next one"
        assert b"chunk2;" in rest
        assert b"Transfer-Encoding: chunked" in first

    def test_write_callable(self, httpd):
        r = httpd.get("/stream/write?0")
        assert r.status_code == 200
        assert r.text == "first;second;third;"

    def test_empty_chunks_before_body(self, httpd):
        r = httpd.get("/stream/empty-first")
        assert r.status_code == 201 and r.text == "body"

    def test_start_response_inside_generator(self, httpd):
        r = httpd.get("/stream/late-start")
        assert r.status_code == 200 and r.headers["X-Late"] == "yes" and r.text == "late"

    def test_no_body(self, httpd):
        r = httpd.get("/stream/no-body")
        assert r.status_code == 204 and r.content == b""

    def test_head_sends_no_body(self, httpd):
        raw = httpd.raw(b"HEAD /stream/write?0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200")
        assert raw.endswith(b"\r\n\r\n")

    def test_close_is_called(self, httpd):
        before = httpd.get("/closing/count").json()
        assert httpd.get("/closing/ok").text == "one two"
        closed = eventually(lambda: httpd.get("/closing/count").json()["closed"],
                            before["closed"] + 1)
        assert closed == before["closed"] + 1

    def test_close_is_called_after_an_error(self, httpd):
        before = httpd.get("/closing/count").json()
        r = httpd.raw(b"GET /closing/fail HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"partial" in r
        assert not r.endswith(b"0\r\n\r\n"), "a failed body must not look complete"
        httpd.expect_log(r"SI0401: pool closing interpreter 0: GET /closing/fail .*failed while "
                         r"producing its response")
        closed = eventually(lambda: httpd.get("/closing/count").json()["closed"],
                            before["closed"] + 1)
        assert closed == before["closed"] + 1

    def test_close_is_called_when_the_client_leaves(self, httpd):
        before = httpd.get("/closing/count").json()
        with socket.create_connection(("127.0.0.1", httpd.port)) as s:
            s.sendall(b"GET /closing/abort HTTP/1.1\r\nHost: x\r\n\r\n")
            read_until(s, b"xxxx", timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        # Unabandoned, /abort would stream for 20 s; its close() must come well before that.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            after = httpd.get("/closing/count").json()
            if after["closed"] == before["closed"] + 1:
                break
            time.sleep(0.1)
        assert after["closed"] == before["closed"] + 1
        assert httpd.wait_log(r"\[subinterp:info\] .*SI0430: client went away while "
                              r"/closing/abort was being sent")


class TestResponseFraming:
    CONFIG = DIRECTORY + """
SubinterpPool r interpreters=1
SubinterpScriptAlias /r {apps}/hardening.py pool=r
"""

    def test_write_after_the_response_ended_never_reaches_the_connection(self, httpd):
        raw = httpd.raw(b"GET /r/smuggle HTTP/1.1\r\nHost: x\r\n\r\n"
                        b"GET /r/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"X-Smuggled" not in raw and b"smuggle" not in raw
        # Two responses on the one connection: the first exactly its 6 bytes, then the next.
        first, _, rest = raw.partition(b"\r\n\r\n")
        assert b"Content-Length: 6" in first and rest.startswith(b"honestHTTP/1.1 200 OK"), raw
        assert raw.count(b"HTTP/1.1 ") == 2 and raw.endswith(b"5\r\nhello\r\n0\r\n\r\n")
        httpd.expect_log(r"SI0401: .*raised in close\(\).*write\(\) after the response was "
                         r"complete")

    def test_file_wrapper_after_write_sends_only_what_content_length_leaves(self, httpd):
        data = open(os.path.join(os.path.dirname(__file__), "apps", "data.bin"), "rb").read()
        raw = httpd.raw(b"GET /r/cl-file HTTP/1.1\r\nHost: x\r\n\r\n"
                        b"GET /r/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, rest = raw.partition(b"\r\n\r\n")
        assert b"Content-Length: 10" in head
        assert rest[:10] == b"12345" + data[:5]
        assert rest[10:].startswith(b"HTTP/1.1 200 OK"), rest[:100]   # the next response

    def test_interim_status_is_refused(self, httpd):
        assert httpd.get("/r/interim").status_code == 500
        httpd.expect_log(r"SI0401: .*interim \(1xx\) status")
