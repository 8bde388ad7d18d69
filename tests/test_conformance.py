"""PEP 3333 conformance: wsgiref's validator, file_wrapper, Content-Length, HEAD,
return-value errors, wsgi.input edge cases."""
import os
import socket
import time

import pytest

from harness import eventually

DATA = open(os.path.join(os.path.dirname(__file__), "apps", "data.bin"), "rb").read()


def http(httpd, request, timeout=10):
    return httpd.raw(request, timeout=timeout)


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


class TestValidator:
    CONFIG = """
SubinterpScriptAlias /v {apps}/validated.py
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.mark.parametrize("path", ["/hello", "/stream", "/empty", "/write", "/head", "/file"])
    def test_get_passes_the_validator(self, httpd, path):
        r = httpd.get("/v" + path)
        assert r.status_code in (200, 204), r.text

    def test_post_passes_the_validator(self, httpd):
        body = b"first line\nsecond line\nthird\n" * 50
        r = httpd.post("/v/echo", data=body)
        assert r.status_code == 200 and r.content == body

    def test_head_passes_the_validator(self, httpd):
        raw = http(httpd, b"HEAD /v/head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"\r\n\r\n")


class TestFileWrapper:
    CONFIG = """
SubinterpPool files interpreters=1
SubinterpScriptAlias /f {apps}/files.py pool=files
<Directory "{apps}">
    Require all granted
</Directory>
"""

    def test_regular_file_is_sent_whole_and_closed(self, httpd):
        before = httpd.get("/f/closed").json()["closed"]
        r = httpd.get("/f/plain")
        assert r.content == DATA
        assert r.headers["Content-Length"] == str(len(DATA))
        assert eventually(lambda: httpd.get("/f/closed").json()["closed"], before + 1) == before + 1

    def test_advanced_position_is_honoured(self, httpd):
        assert httpd.get("/f/advanced").content == DATA[1000:]

    def test_content_length_limits_the_file(self, httpd):
        r = httpd.get("/f/limited")
        assert r.headers["Content-Length"] == "5000" and r.content == DATA[:5000]

    def test_file_like_without_descriptor_is_read_in_blocks(self, httpd):
        assert httpd.get("/f/bytesio").content == b"in memory " * 1000

    def test_head_of_a_file(self, httpd):
        status, headers, body = split_response(
            http(httpd, b"HEAD /f/plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        assert status.startswith("HTTP/1.1 200")
        assert headers["content-length"] == str(len(DATA)) and body == b""


class TestContentLength:
    CONFIG = """
SubinterpScriptAlias /len {apps}/lengths.py
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.mark.parametrize("path", ["/more", "/more-gen"])
    def test_more_than_declared_is_truncated(self, httpd, path):
        # Two requests on one connection: extra bytes would corrupt the second response.
        raw = http(httpd, b"GET /len%s HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /len/exact HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % path.encode())
        first, _, rest = raw.partition(b"\r\n\r\n")
        assert rest.startswith(b"0123456789HTTP/1.1 200 OK")
        assert rest.endswith(b"0123456789")
        httpd.expect_log(r"SI0402: pool /len: /len%s \(\S+lengths.py\) sent more than its "
                         r"Content-Length of 10; the rest is dropped" % path)

    def test_less_than_declared_closes_the_connection(self, httpd):
        start = time.monotonic()
        raw = http(httpd, b"GET /len/less HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
        assert time.monotonic() - start < 5, "the client was left waiting for missing bytes"
        assert raw.endswith(b"\r\n\r\n01234")
        httpd.expect_log(r"SI0403: pool /len: /len/less \(\S+lengths.py\) sent 5 of the 10 "
                         r"bytes its Content-Length announced; the connection is closed")

    def test_head_with_content_length_is_not_short(self, httpd):
        raw = http(httpd, b"HEAD /len/less HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, headers, body = split_response(raw)
        assert headers["content-length"] == "10" and body == b""


class TestHead:
    CONFIG = """
SubinterpScriptAlias /stream {apps}/stream.py
SubinterpPool closing interpreters=1
SubinterpScriptAlias /closing {apps}/closing.py pool=closing
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.mark.parametrize("path", ["/stream/write?0", "/stream/gen?0", "/closing/ok",
                                      "/stream/no-body"])
    def test_head_headers_are_those_of_get(self, httpd, path):
        get = split_response(http(httpd, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close"
                                         b"\r\n\r\n" % path.encode()))
        head = split_response(http(httpd, b"HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close"
                                          b"\r\n\r\n" % path.encode()))
        assert head[0] == get[0]
        # Transfer-Encoding frames a body; Apache leaves it off a HEAD response (RFC 9110 9.3.2
        # lets a server omit header fields that are only known while generating content).
        ignore = {"date", "transfer-encoding"}
        assert {k: v for k, v in head[1].items() if k not in ignore} == \
               {k: v for k, v in get[1].items() if k not in ignore}
        assert head[2] == b""

    def test_head_still_calls_close(self, httpd):
        before = httpd.get("/closing/count").json()["closed"]
        http(httpd, b"HEAD /closing/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        closed = eventually(lambda: httpd.get("/closing/count").json()["closed"], before + 1)
        assert closed == before + 1


class TestReturnValues:
    CONFIG = """
SubinterpScriptAlias /ret {apps}/returns.py
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.mark.parametrize("path,message", [
        ("/str", r"the app returned str; PEP 3333 wants an iterable of bytestrings"),
        ("/bytes", r"the app returned bytes; PEP 3333 wants an iterable of bytestrings"),
        ("/iter-raises", r"ValueError: __iter__ refuses on purpose"),
    ])
    def test_bad_result_is_a_500(self, httpd, path, message):
        assert httpd.get("/ret" + path).status_code == 500
        httpd.expect_log(r"SI0401: pool /ret interpreter \d: GET /ret%s .*%s" % (path, message))

    def test_close_raising_after_a_complete_body(self, httpd):
        r = httpd.get("/ret/close-raises")
        assert r.status_code == 200 and r.text == "complete body"
        httpd.expect_log(r"SI0401: .*GET /ret/close-raises .*raised in close\(\):.*OSError: "
                         r"close\(\) fails on purpose")


class TestRequestInput:
    CONFIG = """
SubinterpPool reader interpreters=1
SubinterpScriptAlias /body {apps}/body_reader.py pool=reader
SubinterpScriptAlias /who {apps}/whoami.py pool=reader
<Location /body/limited>
    LimitRequestBody 1000
</Location>
<Directory "{apps}">
    Require all granted
</Directory>
"""

    def test_client_disconnect_mid_body_raises_oserror(self, httpd):
        with socket.create_connection(("127.0.0.1", httpd.port)) as s:
            s.sendall(b"POST /body/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                      + b"a" * 1000)
            time.sleep(0.3)
        def saw_oserror():
            return "oserror" in (httpd.get("/body/last").json()["last"] or "")
        assert eventually(saw_oserror, True, timeout=10), httpd.get("/body/last").json()
        httpd.expect_log(r"SI0401: pool reader interpreter 0: POST /body/x .*OSError: request "
                         r"body could not be read")

    def test_limit_request_body_is_413_before_the_app_runs(self, httpd):
        calls = httpd.get("/body/calls").json()["calls"]
        r = httpd.post("/body/limited", data=b"x" * 5000)
        assert r.status_code == 413
        assert httpd.get("/body/calls").json()["calls"] == calls
        assert httpd.wait_log(r"\[subinterp:info\] .*SI0421: /body/limited: request body of 5000 "
                              r"bytes is over LimitRequestBody 1000; answering 413")

    def test_chunked_body_over_the_limit_is_413(self, httpd):
        r = httpd.post("/body/limited", data=iter([b"x" * 800, b"y" * 800]))
        assert r.status_code == 413
        assert httpd.wait_log(r"\[subinterp:info\] .*SI0420: reading the request body of "
                              r"/body/limited failed: refused by Apache")
        assert not httpd.wait_log(r"SI0401", timeout=0)

    def test_body_under_the_limit_is_read(self, httpd):
        assert httpd.post("/body/limited", data=b"x" * 999).text == "read 999 bytes"

    def test_slow_headers_take_no_interpreter(self, httpd):
        """Slowloris: a client dribbling its headers is Apache's business; no interpreter is
        taken until the request is complete."""
        with socket.create_connection(("127.0.0.1", httpd.port)) as slow:
            slow.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n")
            for i in range(3):
                slow.sendall(b"X-Slow-%d: 1\r\n" % i)
                start = time.monotonic()
                assert httpd.get("/who").status_code == 200
                assert time.monotonic() - start < 0.5
                time.sleep(0.3)
            slow.sendall(b"Connection: close\r\n\r\n")
            slow.settimeout(10)
            assert slow.recv(65536).startswith(b"HTTP/1.1 200")

    def test_slow_upload_does_not_block_its_interpreter(self, httpd):
        """The one interpreter of the pool is busy with a request whose body trickles in, yet
        another request to the same interpreter is answered at once: the GIL is released while
        Apache waits for the slow client."""
        with socket.create_connection(("127.0.0.1", httpd.port)) as slow:
            slow.sendall(b"POST /body/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
                         b"Connection: close\r\n\r\n")
            for i in range(3):
                slow.sendall(b"ab")
                start = time.monotonic()
                r = httpd.get("/who")
                assert r.status_code == 200 and time.monotonic() - start < 0.5
                time.sleep(0.4)
            slow.settimeout(10)
            assert b"read 6 bytes" in slow.recv(65536)


class TestApacheRefusals:
    """Malformed and oversized requests are Apache's to refuse: its status comes back
    unchanged and the app is never called."""
    CONFIG = """
SubinterpPool reader interpreters=1
SubinterpScriptAlias /body {apps}/body_reader.py pool=reader
SubinterpScriptAlias /env {apps}/environ.py
LimitRequestBody 100000
LimitRequestFieldSize 1000
LimitRequestLine 1000
<Directory "{apps}">
    Require all granted
</Directory>
"""
    EXPECTED_LOG = [r"AH00566|AH00567|AH00569|AH00561|AH02429|AH00126|AH00565"]

    @pytest.mark.parametrize("request_bytes,status", [
        (b"GET /body/x HTTP/1.1\r\n\r\n", b"400"),                               # no Host
        (b"GET /body/x HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", b"400"),   # space in name
        (b"GET /body/" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
        (b"GET /body/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n", b"400"),
        (b"POST /body/x HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", b"413"),
        (b"POST /body/x HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n", b"400"),
        (b"POST /body/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", b"400"),
        (b"GET /body/x HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", b"400"),   # two Hosts
    ])
    def test_apache_answers_and_the_app_is_not_called(self, httpd, request_bytes, status):
        calls = httpd.get("/body/calls").json()["calls"]
        raw = http(httpd, request_bytes)
        assert raw.split(b"\r\n", 1)[0].split(b" ")[1] == status, raw[:200]
        assert httpd.get("/body/calls").json()["calls"] == calls

    def test_both_framings_chunked_wins_and_the_connection_closes(self, httpd):
        """Request smuggling: Content-Length with Transfer-Encoding.  Apache follows RFC 9112
        6.3: the chunked framing wins, Content-Length is dropped before the app sees the
        request, and the connection is closed after the response."""
        raw = http(httpd, b"POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                          b"GET /env HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = split_response(raw)
        assert status.startswith("HTTP/1.1 200") and headers["connection"] == "close"
        assert b'"HTTP_TRANSFER_ENCODING": "chunked"' in body
        assert b"CONTENT_LENGTH" not in body
        assert raw.count(b"HTTP/1.1 200") == 1, "the smuggled second request was served"
