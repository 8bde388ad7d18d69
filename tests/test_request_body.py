"""wsgi.input over Apache's input filters: plain and chunked bodies, every read method, and a
body inflated by mod_deflate's input filter."""
import hashlib
import os

import pytest

from harness import GRANT_APPS as DIRECTORY

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


class TestInputFilterOutput:
    """A body through mod_deflate's input filter: whatever sizes the filter hands back, the app
    reads exactly the inflated body."""
    CONFIG = DIRECTORY + """
LoadModule deflate_module /usr/lib/apache2/modules/mod_deflate.so
SubinterpScriptAlias /h {apps}/hardening.py
<Location /h>
    SetInputFilter DEFLATE
</Location>
"""

    def test_inflated_body_round_trips(self, httpd):
        import gzip
        body = b"".join(b"line %d of a compressible body\n" % i for i in range(60000))
        r = httpd.post("/h/echo", data=gzip.compress(body),
                       headers={"Content-Encoding": "gzip"})
        assert r.status_code == 200 and r.content == body
