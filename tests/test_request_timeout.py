"""request-timeout: an overdue request gets 504 with its stack logged, a C call is interrupted
when it returns to Python, a C call holding one GIL delays no other pool's timeout, and with
several gil=main pools the timeout reaches the late request and no other."""
import threading
import time

import pytest

from harness import GRANT_APPS as DIRECTORY


class TestRequestTimeout:
    CONFIG = DIRECTORY + """
SubinterpPool limited interpreters=1 request-timeout=0.5
SubinterpScriptAlias /slow {apps}/slow.py pool=limited
"""

    @pytest.mark.parametrize("kind", ["sleep", "spin"])
    def test_overdue_request_gets_504_with_its_stack_logged(self, httpd, kind):
        start = time.monotonic()
        r = httpd.get("/slow/%s?30" % kind)
        assert r.status_code == 504
        assert time.monotonic() - start < 5
        httpd.expect_log(r"\[subinterp:warn\].*SI0441: pool limited interpreter 0: GET /slow/%s "
                         r"exceeded request-timeout=0.500 s; interrupting it" % kind)
        httpd.expect_log(r"SI0440: pool limited interpreter 0: GET /slow/%s .*interrupted after "
                         r"request-timeout; where it was:.*slow.py\", line \d+, in application"
                         r".*RequestTimeout" % kind)

    def test_interpreter_is_healthy_afterwards(self, httpd):
        assert httpd.get("/slow/sleep?30").status_code == 504
        httpd.expect_log(r"SI0440")
        httpd.expect_log(r"SI0441")
        for _ in range(5):
            r = httpd.get("/slow/sleep?0.1")
            assert r.status_code == 200 and r.text == "done /sleep"

    def test_c_call_is_interrupted_when_it_returns_to_python(self, httpd):
        start = time.monotonic()
        r = httpd.get("/slow/csleep?1.5")
        assert r.status_code == 504
        assert time.monotonic() - start >= 1.4, "a C call cannot be cut short"
        httpd.expect_log(r"SI0440")
        httpd.expect_log(r"SI0441")

    def test_fast_requests_are_untouched(self, httpd):
        for _ in range(10):
            assert httpd.get("/slow/ok").status_code == 200


class TestTimeoutsNeverWaitOnAnotherGil:
    CONFIG = DIRECTORY + """
SubinterpPool a interpreters=1 request-timeout=1
SubinterpPool b interpreters=1 request-timeout=1
SubinterpScriptAlias /a {apps}/hardening.py pool=a
SubinterpScriptAlias /b {apps}/hardening.py pool=b
"""

    def test_c_call_holding_one_gil_delays_no_other_pools_timeout(self, httpd):
        held = {}
        holder = threading.Thread(
            target=lambda: held.update(status=httpd.get("/a/cdll-sleep?5").status_code))
        holder.start()
        time.sleep(0.5)
        started = time.monotonic()
        status = httpd.get("/b/spin?4").status_code
        elapsed = time.monotonic() - started
        holder.join()
        assert status == 504, "pool b's request ran %.1f s to its end" % elapsed
        # pool a's request is interrupted as soon as its C call returns
        assert held["status"] == 504
        httpd.expect_log(r"SI0440: pool b interpreter 0: GET /b/spin")
        httpd.expect_log(r"SI0440: pool a interpreter 0: GET /a/cdll-sleep")

    def test_timeout_raised_inside_fileno_is_not_swallowed(self, httpd):
        assert httpd.get("/a/slow-fileno?3").status_code == 504
        httpd.expect_log(r"SI0440: pool a interpreter 0: GET /a/slow-fileno")


class TestTimeoutsWithSeveralMainPools:
    """Two gil=main pools share the main interpreter: a thread that served both must still
    have its timeout delivered to the request that is late, and to no other."""
    HTTPD_OPTIONS = {"threads": 1}
    EXPECTED_LOG = [r"AH00484: server reached MaxRequestWorkers"]
    CONFIG = DIRECTORY + """
SubinterpPool x gil=main request-timeout=1
SubinterpPool y gil=main request-timeout=1
SubinterpScriptAlias /x {apps}/hardening.py pool=x
SubinterpScriptAlias /y {apps}/hardening.py pool=y
"""

    def test_timeout_reaches_the_late_request(self, httpd):
        # x's state first, then y's: CPython lists the newest first, so a delivery by thread id
        # alone would find y's idle state.
        assert httpd.get("/x/hello").text == "hello"
        assert httpd.get("/y/hello").text == "hello"
        assert httpd.get("/x/spin?3").status_code == 504
        httpd.expect_log(r"SI0440: pool x interpreter 0: GET /x/spin")
        for _ in range(5):
            assert httpd.get("/y/hello").status_code == 200


class TestTimeoutOfARequestWithANestedOne:
    """The outer request's deadline passes while a request Apache nested in it (an SSI include
    of another mount of the same pool) runs on the same thread in the same interpreter.  The
    interruption was delivered to that thread's state, so it landed in the nested request,
    and the outer one, marked as delivered, ran on uninterrupted.  Now it waits until the
    nested request is done, then interrupts the outer one."""
    MODULES = ("include",)
    CONFIG = DIRECTORY + """
LoadModule include_module /usr/lib/apache2/modules/mod_include.so
SubinterpPool p interpreters=1 request-timeout=1
SubinterpScriptAlias /outer {apps}/ssi_outer.py pool=p
SubinterpScriptAlias /inner {apps}/slow.py pool=p
<Location /outer>
    Options +Includes
    SetOutputFilter INCLUDES
</Location>
"""
    EXPECTED_LOG = [r"SI0441: pool p interpreter 0: GET /outer", r"SI0440: pool p interpreter 0: "
                    r"GET /outer"]

    def test_the_outer_request_is_interrupted_not_the_nested_one(self, httpd):
        start = time.monotonic()
        data = httpd.raw(b"GET /outer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         timeout=15)
        elapsed = time.monotonic() - start
        assert b"<p>outer</p>" in data
        assert b"done /sleep" in data, data       # the nested request finished its work
        assert b"outer done" not in data, data    # the outer one was cut short ...
        assert elapsed < 3, elapsed               # ... soon after the nested one ended
        assert httpd.wait_log(r"SI0440: pool p interpreter 0: GET /outer")
        assert "GET /inner" not in httpd.log_text(httpd.checked)
