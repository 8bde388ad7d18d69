"""wsgi.input over Apache's input filters: plain and chunked bodies, every read method."""
import hashlib
import os

import pytest

BODY = b"".join(b"line %05d of the request body\n" % i for i in range(4000)) + b"no newline end"


class TestRequestBody:
    CONFIG = """
SubinterpScriptAlias /echo {apps}/echo.py
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.mark.parametrize("mode", ["read", "read_none", "read_neg", "read_n", "readline",
                                      "readline_n", "readlines", "readlines_hint", "iter"])
    def test_read_methods(self, httpd, mode):
        r = httpd.post("/echo?" + mode, data=BODY)
        assert r.status_code == 200
        report = r.json()
        assert report["length"] == len(BODY)
        assert report["sha256"] == hashlib.sha256(BODY).hexdigest()
        assert report["after"] == 0
        assert report["content_length"] == str(len(BODY))
        if mode in ("readline", "readlines", "readlines_hint", "iter"):
            assert report["parts"] == 4001

    def test_chunked_body(self, httpd):
        def chunks():
            for i in range(0, len(BODY), 7001):
                yield BODY[i:i + 7001]
        report = httpd.post("/echo?read_n", data=chunks()).json()
        assert report["transfer_encoding"] == "chunked"
        assert report["content_length"] is None
        assert report["length"] == len(BODY)
        assert report["sha256"] == hashlib.sha256(BODY).hexdigest()

    def test_large_binary_body(self, httpd):
        data = os.urandom(3 * 1024 * 1024)
        report = httpd.post("/echo?read", data=data).json()
        assert report["length"] == len(data)
        assert report["sha256"] == hashlib.sha256(data).hexdigest()

    def test_empty_body(self, httpd):
        report = httpd.get("/echo?read").json()
        assert report["length"] == 0 and report["after"] == 0

    def test_reading_past_the_end_returns_empty(self, httpd):
        report = httpd.post("/echo?readline", data=b"a\nb").json()
        assert report["parts"] == 2 and report["after"] == 0
