"""Application patterns and requests that once took a child down, desynced a connection or
stalled the maintenance thread (docs/reliability.md, "Hardening").  Each test reproduces the
pattern against a real Apache; the harness fails any of them on a crash, an abort or a
sanitizer report."""
import os
import socket
import threading
import time

import pytest

from harness import PRELOAD, read_until_closed, running

DIRECTORY = """
<Directory "{apps}">
    Require all granted
</Directory>
"""


def chunked_post(path, size):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n%x\r\n" % size + b"a" * size + b"\r\n0\r\n\r\n")


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


class TestThreadsOutlivingTheirRequest:
    CONFIG = DIRECTORY + """
SubinterpPool t interpreters=1
SubinterpScriptAlias /h {apps}/hardening.py pool=t
"""

    def test_input_write_and_errors_used_from_a_thread_after_the_request(self, httpd):
        size = 200_000
        with socket.create_connection(("127.0.0.1", httpd.port), timeout=20) as s:
            s.sendall(b"POST /h/handoff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Content-Length: %d\r\n\r\n" % size)

            def trickle():
                try:
                    for _ in range(size // 2000):
                        s.sendall(b"b" * 2000)
                        time.sleep(0.005)
                except OSError:
                    pass   # the server may close once it answered
            sender = threading.Thread(target=trickle)
            sender.start()
            reply = read_until_closed(s)
            sender.join()
        assert reply.startswith(b"HTTP/1.1 202"), reply[:200]
        deadline = time.monotonic() + 10
        outcome = None
        while outcome is None and time.monotonic() < deadline:
            outcome = httpd.get("/h/handoff-result").json()
            time.sleep(0.05)
        outcome = outcome or {}
        assert outcome.get("read") in ("RuntimeError", "eof"), outcome
        assert outcome.get("write") == "RuntimeError", outcome
        assert outcome.get("errors") == "ok", outcome
        httpd.expect_log(r"handoff: a line after the request")
        assert httpd.get("/h/hello").text == "hello"

    def test_print_from_app_threads_is_logged_against_the_server(self, httpd):
        assert httpd.get("/h/thread-print").text == "printed"
        own = httpd.expect_log(r"\[subinterp:notice\] [^\n]*thread-print: the request's thread")
        assert "[client 127.0.0.1:" in own.group(0)
        for when in ("during", "after"):
            line = httpd.expect_log(r"\[subinterp:notice\] [^\n]*thread-print: a thread, " + when)
            assert "[client " not in line.group(0)
        assert httpd.get("/h/hello").text == "hello"

    def test_a_thread_may_read_the_body_while_the_request_waits(self, httpd):
        body = os.urandom(300_000)
        assert httpd.post("/h/thread-read", data=body).content == body


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


class TestInterpreterEndingWithAppThreads:
    CONFIG = DIRECTORY + """
SubinterpPool daemon gil=shared interpreters=1 max-requests=2
SubinterpPool lingering interpreters=1 max-requests=2
SubinterpPool listener gil=shared interpreters=1 max-requests=2
SubinterpScriptAlias /daemon {apps}/threads/daemon_forever.py pool=daemon
SubinterpScriptAlias /lingering {apps}/threads/lingering.py pool=lingering
SubinterpScriptAlias /listener {apps}/threads/queue_listener.py pool=listener
"""

    def generations(self, httpd, path, count):
        seen = set()
        for _ in range(count):
            r = httpd.get(path)
            assert r.status_code == 200
            seen.add(r.text)
            time.sleep(0.1)
        return seen

    @pytest.mark.parametrize("path", ["/daemon", "/lingering", "/listener"])
    def test_recycling_goes_on_and_never_aborts(self, httpd, path):
        # Each retired generation either ends (its threads stopped at exit) or is parked;
        # either way maintenance keeps building new ones.
        seen = self.generations(httpd, path, 12)
        assert len(seen) >= 3, seen

    def test_child_exit_is_bounded_and_clean(self, scratch):
        with running(scratch, self.CONFIG) as server:
            for path in ("/daemon", "/lingering", "/listener"):
                assert server.get(path).status_code == 200
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 25
            log = server.log_text()
            assert "SI0214" in log and "SI0209" in log


class TestLazyImportRetries:
    # The scripts count their imports; the start-up probe would import them once more.
    CONFIG = """
SubinterpImportProbe Off
SubinterpPool lazy interpreters=1 preload=off request-timeout=1
SubinterpScriptAlias /flaky {root}/scripts/flaky.py pool=lazy
SubinterpScriptAlias /slowstart {root}/scripts/slowstart.py pool=lazy
<Directory "{root}/scripts">
    Require all granted
</Directory>
"""
    # Each script counts its own imports in a file beside it.
    COUNTED = '''import os, time
MARK = os.path.join(os.path.dirname(__file__), os.path.basename(__file__) + ".attempts")
with open(MARK, "a+") as f:
    f.seek(0)
    attempts = len(f.read())
    f.write("x")
'''
    FLAKY = COUNTED + '''if attempts == 0:
    raise RuntimeError("first import fails on purpose")
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"flaky loaded after %d failure(s)" % attempts]
'''
    SLOW = COUNTED + '''if attempts == 0:
    end = time.monotonic() + 3
    while time.monotonic() < end:
        time.sleep(0.01)
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slowstart loaded"]
'''

    @pytest.fixture(scope="class")
    def httpd(self, tmp_path_factory):
        from conftest import scratch_dir
        root = scratch_dir("lazyretry")
        scripts = os.path.join(root, "scripts")
        os.makedirs(scripts)
        os.chmod(scripts, 0o777)   # the markers are written by Apache's user
        for name, text in (("flaky.py", self.FLAKY), ("slowstart.py", self.SLOW)):
            with open(os.path.join(scripts, name), "w") as f:
                f.write(text)
        with running(root, self.CONFIG, [r"SI0301", r"SI0304", r"SI0302"]) as server:
            yield server

    def test_failed_import_is_retried_after_a_backoff(self, httpd):
        assert httpd.get("/flaky").status_code == 500
        assert httpd.get("/flaky").status_code == 500   # within the backoff: not retried
        time.sleep(1.2)
        r = httpd.get("/flaky")
        assert (r.status_code, r.text) == (200, "flaky loaded after 1 failure(s)")
        httpd.expect_log(r"SI0304: pool lazy interpreter 0: importing .*flaky.py failed 1 "
                         r"time\(s\) in a row")

    def test_timeout_during_first_import_is_a_504_and_the_next_request_imports(self, httpd):
        assert httpd.get("/slowstart").status_code == 504
        httpd.expect_log(r"SI0440: pool lazy interpreter 0: GET /slowstart")
        r = httpd.get("/slowstart")
        assert (r.status_code, r.text) == (200, "slowstart loaded")


class TestStatusPageMemory:
    CONFIG = DIRECTORY + """
<VirtualHost 127.0.0.1:{port}>
    ServerName status.test
    SubinterpPool v interpreters=1
    SubinterpScriptAlias /h {apps}/hello.py pool=v
    <Location /si-status>
        SetHandler subinterp-status
    </Location>
</VirtualHost>
"""

    @pytest.mark.skipif(bool(PRELOAD), reason="ASan's quarantine holds freed memory")
    def test_rendering_allocates_nothing_for_the_childs_life(self, httpd):
        import requests
        session = requests.Session()
        url = httpd.url("/si-status?prometheus")   # names the vhost in several series

        def rss():
            pid = httpd.children()[0]
            with open("/proc/%d/status" % pid) as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
        for _ in range(500):
            assert session.get(url).status_code == 200
        before = rss()
        for _ in range(10000):
            session.get(url)
        grown = rss() - before
        assert grown < 256, "the child grew by %d KiB over 10000 renders" % grown


class TestTrustedProxyTakesTheValueItAdded:
    CONFIG = DIRECTORY + """
SubinterpScriptAlias /env {apps}/environ.py
<Location /env>
    SubinterpTrustedProxies 127.0.0.1
    SubinterpTrustedProxyHeaders X-Forwarded-Proto X-Forwarded-Host X-Forwarded-Port
</Location>
"""

    def test_client_supplied_left_elements_are_ignored(self, httpd):
        env = httpd.get("/env", headers={"X-Forwarded-Proto": "https, http",
                                         "X-Forwarded-Host": "evil.example, good.example",
                                         "X-Forwarded-Port": "8443, 8080"}).json()
        assert env["wsgi.url_scheme"] == "http"
        assert env["HTTP_HOST"] == "good.example"
        assert env["SERVER_PORT"] == "8080"


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


def test_prefork_is_refused_at_start_up(scratch):
    from harness import Httpd
    server = Httpd(scratch, DIRECTORY + "SubinterpScriptAlias /h {apps}/hello.py\n",
                   mpm="prefork")
    rc, out = server.configtest()
    assert rc != 0 and "SI0111" in out and "threaded MPM" in out, out


def curl_speaks_http2():
    import shutil
    import subprocess
    if not shutil.which("curl") or not os.path.exists("/usr/lib/apache2/modules/mod_http2.so"):
        return False
    return "HTTP2" in subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout


@pytest.mark.skipif(not curl_speaks_http2(), reason="needs curl with HTTP/2 and mod_http2")
class TestHTTP2:
    """mod_http2 runs requests on threads of its own and may read a file bucket after the
    handler returned (H2CopyFiles Off)."""
    CONFIG = DIRECTORY + """
LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so
Protocols h2c http/1.1
H2CopyFiles Off
SubinterpPool h2 interpreters=2
SubinterpScriptAlias /h {apps}/hardening.py pool=h2
"""

    def curl(self, httpd, path):
        # One stream per connection: curl 7.88 drops a second transfer on a reused h2c one.
        import subprocess
        return subprocess.Popen(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                                 "-w", "%{http_code} %{size_download} %{http_version}",
                                 httpd.url(path)], stdout=subprocess.PIPE, text=True)

    def test_file_wrapper_and_concurrent_streams(self, httpd):
        size = os.path.getsize(os.path.join(os.path.dirname(__file__), "apps", "data.bin"))
        clients = [self.curl(httpd, path) for path in ["/h/file", "/h/hello", "/h/spin?0.05"] * 8]
        lines = [c.communicate(timeout=60)[0] for c in clients]
        assert all(line.startswith("200 ") and line.endswith(" 2") for line in lines), lines
        assert sum(line == "200 %d 2" % size for line in lines) == 8, lines

    def test_child_exit_with_an_h2_request_inside(self, scratch):
        import subprocess
        with running(scratch, self.CONFIG) as server:
            slow = subprocess.Popen(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                                     "-w", "%{http_code}", server.url("/h/spin?2")],
                                    stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            server.stop()
            out, _ = slow.communicate(timeout=30)
            # finished, or cut by the stop; never a crash (the harness checks the log)
            assert out in ("200", "000"), out


@pytest.mark.skipif(os.geteuid() != 0, reason="only root widens permissions for www-data")
def test_grant_access_lists_each_change_and_can_refuse(scratch):
    import pathlib
    import subprocess
    tmp_path = pathlib.Path(scratch)
    tool = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "grant-apache-access")
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    os.chmod(tmp_path, 0o755)
    target = private / "inner" / "app.py"
    target.write_text("")
    target.chmod(0o644)
    refused = subprocess.run([tool, str(target)], capture_output=True, text=True,
                             env=dict(os.environ, SI_GRANT_ACCESS="no"), stdin=subprocess.DEVNULL)
    assert refused.returncode == 1
    assert "%s    drwx------ -> drwx-----x" % private in refused.stdout, refused.stdout
    assert "Alternative" in refused.stdout and oct(private.stat().st_mode & 0o777) == "0o700"
    granted = subprocess.run([tool, str(target)], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
    assert granted.returncode == 0, granted.stderr
    assert "chmod o+x %s" % private in granted.stdout
    assert oct(private.stat().st_mode & 0o777) == "0o701"
