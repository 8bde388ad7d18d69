"""Dispatch: a pool under max-active and queue-timeout (queueing, quick 503s), and requests
Apache nests inside another on the same thread (an ErrorDocument), which must neither corrupt
thread states nor wait for the interpreter their own thread holds."""
import concurrent.futures
import time

from harness import GRANT_APPS as DIRECTORY, eventually


def chunked_post(path, size):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n%x\r\n" % size + b"a" * size + b"\r\n0\r\n\r\n")


class TestBackpressure:
    CONFIG = DIRECTORY + """
SubinterpPool one interpreters=1 max-active=1 queue-timeout=0.5
SubinterpScriptAlias /slow {apps}/slow.py pool=one
<Location /status>
    SetHandler subinterp-status
</Location>
"""

    def test_flood_gets_quick_503s_while_admitted_requests_succeed(self, httpd):
        def timed(_):
            start = time.monotonic()
            r = httpd.get("/slow/sleep?1.5")
            return r, time.monotonic() - start
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(timed, range(8)))
        ok = [r for r, _ in results if r.status_code == 200]
        refused = [(r, t) for r, t in results if r.status_code == 503]
        assert len(ok) == 1 and len(refused) == 7
        assert all(r.headers["Retry-After"] == "1" for r, _ in refused)
        assert all(t < 1.4 for _, t in refused), "503s waited longer than queue-timeout"
        httpd.expect_log(r"\[subinterp:warn\].*SI0501: pool one: every interpreter had "
                         r"max-active=1 requests for queue-timeout; answering 503 for /slow/sleep")

    def test_queued_request_is_served_when_a_slot_frees_in_time(self, httpd):
        def active():
            return httpd.get("/status?json").json()["pools"][0]["interpreters"][0]["active"]
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            sent = time.monotonic()
            first = ex.submit(httpd.get, "/slow/sleep?0.4")
            # The second request is sent once the first holds the one slot (a fixed head start
            # is not enough on a loaded machine or under ASan).
            assert eventually(active, 1) == 1
            second = ex.submit(httpd.get, "/slow/ok")
            assert second.result().status_code == 200
            waited = time.monotonic() - sent
            assert first.result().status_code == 200
        # It waited for the admitted request to leave its interpreter: without the queue it
        # would have answered at once (it does no work), or been refused.  (Which response
        # reaches the client first is a race once the slot is free, so only the lower bound.)
        assert waited >= 0.4, "the queued request did not wait for the slot"


class TestNestedRequestOnOneThread:
    """An ErrorDocument served by the same mount runs inside the outer request, on its thread,
    while the outer one waits in Apache with its GIL released (reading the body)."""
    HTTPD_OPTIONS = {"threads": 1}
    EXPECTED_LOG = [r"AH00484: server reached MaxRequestWorkers"]
    CONFIG = DIRECTORY + """
SubinterpPool nest interpreters=2 max-requests=1
SubinterpScriptAlias / {apps}/hardening.py pool=nest
LimitRequestBody 100
ErrorDocument 413 /err
"""

    def test_error_document_from_the_same_pool_keeps_thread_states_sound(self, httpd):
        for _ in range(8):
            reply = httpd.raw(chunked_post("/upload", 500))
            assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
            assert b"error document for 413" in reply
            # Maintenance reaps the retired interpreters' states meanwhile; the thread's next
            # request then rebinds from whatever CPython had bound.
            time.sleep(0.5)
            assert httpd.get("/hello").text == "hello"
        # Recycling ran after every request: retired interpreters were reaped meanwhile.
        time.sleep(1)
        assert httpd.get("/hello").text == "hello"


class TestNestedRequestAtMaxActive:
    HTTPD_OPTIONS = {"threads": 1}
    EXPECTED_LOG = [r"AH00484: server reached MaxRequestWorkers"]
    CONFIG = DIRECTORY + """
SubinterpPool single interpreters=1 max-active=1 queue-timeout=20
SubinterpScriptAlias / {apps}/hardening.py pool=single
LimitRequestBody 100
ErrorDocument 413 /err
"""

    def test_nested_request_takes_the_interpreter_its_thread_holds(self, httpd):
        # Waiting for a slot would wait for ourselves until queue-timeout (then 503).
        started = time.monotonic()
        reply = httpd.raw(chunked_post("/upload", 500), timeout=15)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert b"error document for 413" in reply
        assert time.monotonic() - started < 15
        assert "SI0501" not in httpd.log_text(httpd.checked)
