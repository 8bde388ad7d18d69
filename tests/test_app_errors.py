"""Apps that break PEP 3333 or raise: a defined answer, one SI-coded log entry, no harm to others."""
import pytest


class TestStartResponseRules:
    CONFIG = """
SubinterpScriptAlias /v {apps}/violations.py
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.mark.parametrize("rule,message", [
        ("bad-status", r"status 'OK' is not 'NNN Reason'"),
        ("status-code-600", r"status '600 Nope' is not 'NNN Reason'"),
        ("status-bytes", r"status must be str, not bytes"),
        ("header-name-space", r"header name 'X Bad' is not a token"),
        ("header-crlf", r"value of header 'X-Split' contains a control character"),
        ("header-nonlatin1", r"value of header 'X-Text' is not latin-1"),
        ("header-not-tuple", r"is not a \(name, value\) tuple"),
        ("headers-tuple", r"headers must be a list, not tuple"),
        ("hop-by-hop", r"hop-by-hop header 'Connection'"),
        ("twice", r"start_response called a second time without exc_info"),
        ("no-start-response", r"returned a body without calling start_response"),
        ("str-body", r"yielded str, not bytes"),
        ("none-result", r"the app returned None; PEP 3333 wants an iterable"),
    ])
    def test_violation_is_a_500_with_a_log_line(self, httpd, rule, message):
        r = httpd.get("/v/" + rule)
        assert r.status_code == 500
        assert b"should not be sent" not in r.content and b"evil" not in r.content
        assert "Set-Cookie" not in r.headers
        httpd.expect_log(r"\[subinterp:error\].*SI0401: pool /v interpreter \d+: GET /v/%s "
                         r"\(mount /v, .*violations.py\) (raised an exception|failed while producing its "
                         r"response):\\n.*%s" % (rule, message))
        assert httpd.get("/v/valid").text == "valid"

    def test_exc_info_before_headers_replaces_the_status(self, httpd):
        r = httpd.get("/v/exc-info-before-headers")
        assert r.status_code == 503 and r.text == "replaced status"

    def test_exc_info_after_headers_reraises_and_cuts_the_response(self, httpd):
        raw = httpd.raw(b"GET /v/exc-info-after-headers HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 OK")
        assert b"already sent;" in raw and b"never" not in raw
        assert not raw.endswith(b"0\r\n\r\n")
        httpd.expect_log(r"SI0401: .*exc-info-after-headers.*KeyError: 'too late'")


class TestExceptions:
    CONFIG = """
SubinterpPool p interpreters=2
SubinterpScriptAlias /raises {apps}/raises.py pool=p
SubinterpScriptAlias /hello {apps}/hello.py pool=p
SubinterpScriptAlias /broken {apps}/broken_import.py
SubinterpScriptAlias /notcallable {apps}/not_callable.py
SubinterpScriptAlias /nocallable {apps}/hello.py callable=missing
<Directory "{apps}">
    Require all granted
</Directory>
"""
    EXPECTED_LOG = [r"SI0301: pool /(broken|notcallable|nocallable) "]

    @pytest.mark.parametrize("where,exc", [("before", "ZeroDivisionError"),
                                           ("after", "LookupError")])
    def test_exception_before_body_is_500(self, httpd, where, exc):
        r = httpd.get("/raises?" + where)
        assert r.status_code == 500
        m = httpd.expect_log(r"\[subinterp:error\] .*SI0401: pool p interpreter \d: GET /raises "
                             r"\(mount /raises, \S+raises.py\) raised an exception:\\n"
                             r"Traceback \(most recent call last\):\\n  File .*\\n%s: raised" % exc)
        assert m

    def test_exception_mid_stream_cuts_the_response(self, httpd):
        raw = httpd.raw(b"GET /raises?midstream HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 OK")
        assert b"x" * 1000 in raw
        assert not raw.endswith(b"0\r\n\r\n"), "a cut response must not end like a complete one"
        httpd.expect_log(r"SI0401: .*GET /raises .*failed while producing.*RuntimeError: raised in the middle")

    def test_other_requests_unaffected(self, httpd):
        for _ in range(5):
            assert httpd.get("/raises?before").status_code == 500
            assert httpd.get("/hello").text == "Hello, world!\n"
        httpd.expect_log(r"SI0401")

    def test_script_that_fails_to_import(self, httpd):
        assert httpd.wait_log(r"SI0301: pool /broken interpreter 0: loading \S+broken_import.py for "
                         r"mount /broken failed; that mount answers 500:\\nTraceback.*ImportError: "
                         r"broken_import.py fails", start=0)
        assert httpd.get("/broken").status_code == 500
        httpd.expect_log(r"SI0302: pool /broken interpreter \d: /broken .*failed to load")
        assert httpd.get("/hello").status_code == 200

    def test_missing_or_uncallable_callable(self, httpd):
        assert httpd.wait_log(r"SI0301: pool /notcallable .*TypeError: \S+not_callable.py: "
                              r"application is not callable", start=0)
        assert httpd.wait_log(r"SI0301: pool /nocallable .*LookupError: \S+hello.py defines "
                              r"no WSGI callable named 'missing'", start=0)
        assert httpd.get("/notcallable").status_code == 500
        assert httpd.get("/nocallable").status_code == 500
        httpd.expect_log(r"SI0302")


class TestErrorsStream:
    CONFIG = """
SubinterpScriptAlias /errors {apps}/errors_stream.py
<Directory "{apps}">
    Require all granted
</Directory>
"""

    def test_lines_reach_the_error_log(self, httpd):
        assert httpd.get("/errors").text == "logged"
        # One entry per write(): two lines written at once stay together (escaped "\n"), each
        # after the pool and interpreter that wrote it (this mount's implicit pool).
        for entry in (r"errors-stream line one\\nerrors-stream line two",
                      r"errors-stream partial", r"errors-stream via logging"):
            httpd.expect_log(r"\[subinterp:error\] \[pid \d+:tid \d+\] \[client [\d.:]+\] "
                             r"\[pool /errors:\d\] %s$" % entry)
