"""Real apps behave as under mod_wsgi and gunicorn: UTF-8 text, daemon threads, signal handlers
registered at import, print() and stderr in Apache's error log, failed imports reported as
failed, and a warning where gil=main pools of two sites share the main interpreter."""
import re

import pytest

from harness import Httpd, running

DIRECTORY = """
<Directory "{apps}">
    Require all granted
</Directory>
"""


@pytest.mark.parametrize("gil", ["own", "main"])
def test_utf8_text_stdout_stderr_logging_and_signals(scratch, gil):
    config = DIRECTORY + """
SubinterpPool text gil=%s interpreters=1
SubinterpScriptAlias /text {apps}/text_io.py pool=text
""" % gil
    expected = [r"stderr: na", r"WARNING:root:logging: "]
    with running(scratch, config, expected) as server:
        r = server.get("/text")
        assert r.status_code == 200, r.text
        info = r.json()
        assert info["fs"] == "utf-8" and info["utf8_mode"] == 1
        assert info["preferred"].lower() in ("utf-8", "utf8")
        assert info["roundtrip"] is True
        assert info["sigterm_is_ours"] is False      # the app's handler was not installed
        # print() at notice (Apache always logs it), stderr and logging at warn, each
        # tagged with the request's client and the pool and interpreter that wrote it (so
        # that in a log several sites share, each line says whose it is).  Apache writes
        # bytes beyond ASCII as \xNN.
        client = r"\[client 127\.0\.0\.1:\d+\] \[pool text:0\] "
        assert server.wait_log(r"\[subinterp:notice\] .*" + client + r"stdout: caf\\xc3\\xa9")
        assert server.wait_log(r"\[subinterp:warn\] .*" + client + r"stderr: na\\xc3\\xafve")
        assert server.wait_log(client + r"WARNING:root:logging: \\xc3\\xbcber")
        assert server.wait_log(r"\[subinterp:notice\] \[pid \d+:tid \d+\] \[pool text:0\] "
                               r"text_io imported$", start=0)
        assert server.wait_log(r"SI0320: .*/text_io\.py registered a handler for signal 15 "
                               r"\(Terminated\); ignored", start=0)


def test_utf8_mode_can_be_turned_off(scratch):
    config = DIRECTORY + """
SubinterpPythonUTF8 Off
SubinterpPool text interpreters=1
SubinterpScriptAlias /env {apps}/environ.py pool=text
SubinterpScriptAlias /text {apps}/text_io.py pool=text
"""
    with running(scratch, config, [r"stderr: ", r"WARNING:root:", r"SI0401"]) as server:
        # The C locale of Apache's children: ASCII text I/O, so the app's non-ASCII file fails.
        assert server.get("/text").status_code == 500


def test_daemon_threads_are_allowed_in_own_gil_pools(scratch):
    config = DIRECTORY + """
SubinterpPool listener interpreters=1
SubinterpScriptAlias /listener {apps}/threads/queue_listener.py pool=listener
SubinterpPool strict interpreters=1 daemon-threads=off
SubinterpScriptAlias /strict {apps}/threads/queue_listener.py pool=strict
"""
    expected = [r"SI0301: pool strict", r"SI0302: pool strict", r"SI0200: .* 1 failed"]
    with running(scratch, config, expected) as server:
        assert server.get("/listener").text == "generation 0"
        assert server.get("/strict").status_code == 500
        server.expect_log(r"daemon threads are disabled")


def test_a_failed_import_is_failed_not_ready(scratch):
    config = DIRECTORY + """
SubinterpPool broken interpreters=2
SubinterpScriptAlias /broken {apps}/broken_import.py pool=broken
SubinterpScriptAlias /hello {apps}/hello.py
<Location /si-status>
    SetHandler subinterp-status
</Location>
"""
    with running(scratch, config, [r"SI0301", r"SI0200: .* 2 failed"]) as server:
        pools = {p["name"]: p for p in server.get("/si-status?json").json()["pools"]}
        assert [i["state"] for i in pools["broken"]["interpreters"]] == ["failed", "failed"]
        assert pools["broken"]["interpreters"][0]["error"] == \
            "ImportError: broken_import.py fails to import on purpose"
        assert server.wait_log(r"SI0200: child \d+: .*, \d+ of \d+ interpreter\(s\) ready, "
                               r"2 failed \(an app of theirs did not load\): broken "
                               r"\(127\.0\.0\.1, 2 of 2\) in", start=0)
        metrics = server.get("/si-status?prometheus").text
        assert 'mod_subinterp_app_up{pool="broken",' in metrics
        up = {line.split('pool="')[1].split('"')[0]: line.rsplit(" ", 1)[1]
              for line in metrics.splitlines() if line.startswith("mod_subinterp_app_up{")}
        assert up["broken"] == "0" and set(v for k, v in up.items() if k != "broken") == {"1"}


def test_gil_main_pools_of_two_sites_are_warned_about(scratch):
    config = DIRECTORY + """
SubinterpPool a gil=main
SubinterpScriptAlias /a {apps}/hello.py pool=a
<VirtualHost 127.0.0.1:{port}>
    ServerName other.test
    SubinterpPool b gil=main
    SubinterpScriptAlias /b {apps}/hello.py pool=b
</VirtualHost>
"""
    rc, out = Httpd(scratch, config).configtest()
    assert rc == 0, out
    assert "SI0113: gil=main pools a" in out and "share the main interpreter" in out, out


def test_gil_main_pools_that_ask_for_different_environments_are_refused(scratch):
    """One main interpreter has one sys.path: before, both were accepted and one site ran the
    other's packages (a blog on the api venv's Flask)."""
    config = DIRECTORY + """
SubinterpPool a gil=main
SubinterpScriptAlias /a {apps}/hello.py pool=a
<VirtualHost 127.0.0.1:{port}>
    ServerName other.test
    SubinterpPool b gil=main python-path={apps}/threads
    SubinterpScriptAlias /b {apps}/hello.py pool=b
</VirtualHost>
"""
    rc, out = Httpd(scratch, config).configtest()
    assert rc != 0, out
    assert re.search(r"SI0118: gil=main pools a \(.*: virtualenv=\(none\) python-path=\(none\)\) "
                     r"and b \(.*: virtualenv=\(none\) python-path=.*/threads\) ask for "
                     r"different Python environments", out), out


def test_python_home_pointing_at_a_virtualenv_stops_start_up(scratch):
    import os
    import sys
    venv = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv")
    assert os.path.exists(os.path.join(venv, "pyvenv.cfg")), sys.prefix
    rc, out = Httpd(scratch, DIRECTORY + "SubinterpPythonHome %s\n" % venv +
                    "SubinterpScriptAlias /h {apps}/hello.py\n").configtest()
    assert rc != 0 and "SI0114" in out and "virtualenv=%s" % venv in out, out


def test_a_virtual_hosts_pool_logs_to_that_hosts_error_log(scratch):
    import os
    import time
    config = DIRECTORY + """
<VirtualHost 127.0.0.1:{port}>
    ServerName vhost.test
    ErrorLog {root}/vhost-error.log
    SubinterpPool v interpreters=1
    SubinterpScriptAlias /broken {apps}/broken_import.py pool=v
    SubinterpScriptAlias /text {apps}/text_io.py pool=v
</VirtualHost>
"""
    with running(scratch, config) as server:
        assert server.get("/broken").status_code == 500
        assert server.get("/text").status_code == 200
        time.sleep(0.3)
        vhost_log = open(os.path.join(scratch, "vhost-error.log"), errors="replace").read()
        # start-up failure, the request's SI0302 (saying why on its own line), print() and
        # the ignored signal: all in the virtual host's log, none in the main one
        assert "SI0301: pool v interpreter 0: loading" in vhost_log
        assert "SI0302: pool v interpreter 0: /broken (mount /broken) has no app: " \
               "%s/broken_import.py failed to load: " % os.path.join(
                   os.path.dirname(os.path.abspath(__file__)), "apps") in vhost_log
        assert "stdout: caf" in vhost_log and "SI0320:" in vhost_log
        main_log = server.log_text()
        assert "SI0301" not in main_log and "stdout: caf" not in main_log


class TestServerWideFigures:
    """Counters in shared memory: whichever child answers the status page reports what every
    child served."""
    HTTPD_OPTIONS = {"children": 2, "threads": 4}
    CONFIG = DIRECTORY + """
KeepAliveTimeout 30
MaxKeepAliveRequests 0
MinSpareThreads 8
SubinterpPool p interpreters=1
SubinterpScriptAlias /h {apps}/hardening.py pool=p
<Location /si-status>
    SetHandler subinterp-status
</Location>
"""
    EXPECTED_LOG = [r"AH10159: server is within MinSpareThreads of MaxRequestWorkers",
                    r"SI0401: pool p interpreter 0: GET /h/raise"]

    def connection_in_each_child(self, httpd):
        import http.client
        import time
        deadline = time.monotonic() + 30
        conns = {}
        while len(conns) < 2 and time.monotonic() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=10)
            c.request("GET", "/h/pid")
            pid = int(c.getresponse().read())
            if pid in conns:
                c.close()
                time.sleep(0.02)
            else:
                conns[pid] = c
        assert len(conns) == 2, "no connection reached a second child"
        return list(conns.values())

    @staticmethod
    def figures(conn):
        import json
        conn.request("GET", "/si-status?json")
        pools = json.loads(conn.getresponse().read())["pools"]
        return next(p["server_wide"] for p in pools if p["name"] == "p")

    @staticmethod
    def get(conn, path):
        conn.request("GET", path)
        return conn.getresponse().read()

    def test_every_child_reports_every_childs_requests(self, httpd):
        a, b = self.connection_in_each_child(httpd)
        before = self.figures(a)
        for _ in range(5):
            self.get(a, "/h/status?200")
        for _ in range(2):
            self.get(b, "/h/status?404")
        self.get(b, "/h/status?302")
        self.get(b, "/h/status?503")
        self.get(a, "/h/raise")
        after_a, after_b = self.figures(a), self.figures(b)
        assert after_a == after_b
        grown = {k: after_a[k] - before[k] for k in before}
        assert grown == {"responses_2xx": 5, "responses_3xx": 1, "responses_4xx": 2,
                         "responses_5xx": 2, "timeouts": 0, "rejected": 0, "exceptions": 1,
                         "recycles": 0, "reloads": 0}, grown
        a.request("GET", "/si-status?prometheus")
        metrics = a.getresponse().read().decode()
        assert 'mod_subinterp_responses_total{pool="p",vhost="main server",class="2xx"} %d' \
               % after_a["responses_2xx"] in metrics
        assert "# TYPE mod_subinterp_app_exceptions_total counter" in metrics


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs Apache's user to differ")
def test_a_script_apaches_user_cannot_read_stops_start_up(scratch):
    import os
    private = os.path.join(scratch, "private")
    os.makedirs(private)
    script = os.path.join(private, "app.py")
    with open(script, "w") as f:
        f.write("def application(environ, start_response):\n    pass\n")
    os.chmod(private, 0o700)   # root's alone: www-data cannot search it
    rc, out = Httpd(scratch, DIRECTORY + "SubinterpScriptAlias /p %s\n" % script).configtest()
    assert rc != 0, out
    assert "SI0116: mount /p" in out and "cannot read %s: Permission denied" % script in out, out


def test_an_mpm_that_multiplies_interpreters_past_the_cores_is_warned_about(scratch):
    """Every child loads every pool: 2 children of a pool with twice as many interpreters as
    cores is 4 per core, and start-up says so with the numbers (SI0119)."""
    import os
    per_child = 2 * os.cpu_count()
    config = DIRECTORY + """
SubinterpPool many interpreters=%d
SubinterpScriptAlias /hello {apps}/hello.py pool=many
""" % per_child
    with running(scratch, config, children=2, threads=4) as server:
        assert server.get("/hello").status_code == 200
        assert server.wait_log(r"SI0119: the event MPM may run up to 2 children "
                               r"\(MaxRequestWorkers / ThreadsPerChild\), and each loads every "
                               r"pool: %d interpreter\(s\) per child, so up to %d on %d CPU "
                               r"core\(s\)" % (per_child, 2 * per_child, os.cpu_count()),
                               start=0)


def test_one_child_with_an_interpreter_per_core_is_not_warned_about(scratch):
    config = DIRECTORY + "SubinterpScriptAlias /hello {apps}/hello.py\n"
    with running(scratch, config) as server:
        assert server.get("/hello").status_code == 200
        assert "SI0119" not in server.log_text()
