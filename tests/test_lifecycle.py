"""Child start and exit: graceful restarts under load lose no request, stops are clean."""
import os
import re
import threading
import time

import pytest
import requests

from harness import GRANT_APPS as DIRECTORY, PRELOAD, Httpd, eventually


class TestGracefulRestart:
    CONFIG = DIRECTORY + """
SubinterpPool p interpreters=2
SubinterpScriptAlias /hello {apps}/hello.py pool=p
SubinterpScriptAlias /who {apps}/whoami.py pool=p
SubinterpScriptAlias /shared {apps}/whoami.py
SubinterpPool m gil=main
SubinterpScriptAlias /main {apps}/whoami.py pool=m
"""

    def test_graceful_restart_under_load_loses_no_request(self, httpd):
        stop = threading.Event()
        results = []

        def client(path):
            while not stop.is_set():
                try:
                    r = requests.get(httpd.url(path), timeout=30)
                    results.append((path, r.status_code))
                except requests.RequestException as e:
                    results.append((path, repr(e)))

        threads = [threading.Thread(target=client, args=(p,))
                   for p in ("/hello", "/who?sleep=0.05", "/shared", "/main")]
        for t in threads:
            t.start()
        def children(code):
            return set(re.findall(r"%s: child (\d+)" % code, httpd.log_text(0)))
        first = children("SI0200")
        try:
            for _ in range(3):
                time.sleep(1.5)
                httpd.graceful()
            # The MPM spawns children from its once-a-second maintenance loop: wait, under load,
            # until a child of the last generation serves.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(children("SI0200") - first) < 2:
                time.sleep(0.2)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
        failures = [r for r in results if r[1] != 200]
        assert not failures, failures[:10]
        assert len(results) > 50
        assert len(children("SI0200") - first) >= 2, "graceful restarts did not replace the child"
        # An old child may take a while to drain; test_every_child_ended_python_cleanly (last in
        # this class) checks each one's clean end once Apache has stopped.
        assert httpd.get("/hello").status_code == 200

    def test_many_graceful_restarts(self, httpd):
        for _ in range(10):
            pid = httpd.children()
            httpd.graceful()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and httpd.children() == pid:
                time.sleep(0.05)
            assert httpd.get("/who").status_code == 200
        time.sleep(0.5)
        assert not httpd.wait_log(r"not the last thread|exit signal|Fatal Python", timeout=0,
                                  start=0)

    def test_every_child_ended_python_cleanly(self, httpd):
        """Last in the class: once Apache has stopped (it waits for its children), every child
        that started Python in this class's restarts ended it cleanly."""
        httpd.stop()
        log = httpd.log_text(0)
        started = set(re.findall(r"SI0200: child (\d+)", log))
        stopped = set(re.findall(r"SI0206: child (\d+)", log))
        assert len(started) >= 10 and started == stopped, started - stopped


class TestStop:
    CONFIG = DIRECTORY + """
SubinterpPool p interpreters=2
SubinterpScriptAlias /who {apps}/whoami.py pool=p
"""

    def test_stop_ends_every_interpreter_and_python(self, httpd):
        for _ in range(20):
            assert httpd.get("/who").status_code == 200
        start = time.monotonic()
        httpd.stop()
        assert time.monotonic() - start < 10
        assert httpd.wait_log(r"SI0206: child \d+: Python stopped, 2 sub-interpreter\(s\) ended", timeout=0, start=0)


def parent_usage(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


class TestRestartStorm:
    CONFIG = DIRECTORY + """
SubinterpPool p interpreters=2
SubinterpScriptAlias /who {apps}/whoami.py pool=p
SubinterpScriptAlias /hello {apps}/hello.py
"""

    @pytest.mark.skipif(bool(PRELOAD), reason="AddressSanitizer's quarantine holds freed memory "
                        "back, so RSS says nothing under its build (make valgrind covers leaks)")
    def test_hundred_graceful_restarts_leave_the_parent_flat(self, httpd):
        def restart(times):
            for _ in range(times):
                # AH00489 closes a restart: the parent has re-read the configuration (and run
                # the start-up probes, whose pipes are open meanwhile).
                done = httpd.log_text(0).count("AH00489")
                httpd.graceful()
                deadline = time.monotonic() + 10
                while httpd.log_text(0).count("AH00489") == done:
                    assert time.monotonic() < deadline, "graceful restart not processed"
                    time.sleep(0.01)
                time.sleep(0.05)

        restart(10)
        rss_before, fds_before = parent_usage(httpd.proc.pid)
        restart(90)
        rss_after, fds_after = parent_usage(httpd.proc.pid)
        print("parent after 10 and 100 restarts: RSS %d -> %d KiB, fds %d -> %d"
              % (rss_before, rss_after, fds_before, fds_after))
        assert fds_after == fds_before
        assert rss_after - rss_before < 1024, (rss_before, rss_after)   # KiB
        def who():
            try:
                return httpd.get("/who", timeout=5).status_code
            except requests.RequestException as e:
                return repr(e)
        assert eventually(who, 200, timeout=15) == 200
        assert not httpd.wait_log(r"not the last thread|exit signal|Fatal Python", timeout=0,
                                  start=0)


class TestThreadLocalResourcesAtExit:
    """A Django-like app keeps a sqlite3 connection with a user function, and a ctypes callback,
    in each worker thread's threading.local.  Their destructors call PyGILState_Ensure when the
    thread state that holds them is cleared: on the maintenance thread (recycling) or at child
    exit, each of which must have that interpreter's state current and gilstate-bound."""
    HTTPD_OPTIONS = {"threads": 8}
    CONFIG = DIRECTORY + """
SubinterpPool own interpreters=2
SubinterpScriptAlias /own {apps}/thread_local_db.py pool=own
SubinterpPool recycled interpreters=1 max-requests=5
SubinterpScriptAlias /recycled {apps}/thread_local_db.py pool=recycled
SubinterpPool shared gil=shared interpreters=2
SubinterpScriptAlias /shared {apps}/thread_local_db.py pool=shared
SubinterpPool m gil=main
SubinterpScriptAlias /main {apps}/thread_local_db.py pool=m
"""

    def serve_from_many_threads(self, httpd, path, n=48):
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            bodies = list(ex.map(lambda _: httpd.get(path).text, range(n)))
        assert set(bodies) == {"42 1,2,3,4"}, set(bodies)

    def test_recycling_clears_worker_threads_locals_cleanly(self, httpd):
        for _ in range(3):
            self.serve_from_many_threads(httpd, "/recycled")
        assert httpd.wait_log(r"SI0210: pool recycled interpreter 0: recycled", timeout=10,
                              start=0)
        time.sleep(1)   # retired generations end on the maintenance thread meanwhile
        self.serve_from_many_threads(httpd, "/recycled")

    def test_graceful_restart_and_stop_end_python_cleanly(self, httpd):
        for path in ("/own", "/shared", "/main", "/recycled"):
            self.serve_from_many_threads(httpd, path)
        first = httpd.children()
        httpd.graceful()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and httpd.children() == first:
            time.sleep(0.05)
        for path in ("/own", "/shared", "/main"):
            self.serve_from_many_threads(httpd, path)
        httpd.stop()
        log = httpd.log_text(0)
        assert not re.search(r"exit signal|Fatal Python|invalid pointer|double free", log), log
        started = set(re.findall(r"SI0200: child (\d+)", log))
        stopped = set(re.findall(r"SI0206: child (\d+)", log))
        assert len(started) >= 2 and started == stopped, (started, stopped)


class TestGracefulRestartWithASlowImport:
    """A new child used to load every pool in child_init, before it accepted any connection:
    each graceful restart (Debian's logrotate makes one nightly) stalled every virtual host,
    static files too, for the slowest import.  Now pools load on a thread of their own
    (si_startup.c): the child serves at once, and only a loading pool's own requests wait."""
    CONFIG = DIRECTORY + """
DefaultRuntimeDir {root}
SubinterpPool slow interpreters=1
SubinterpScriptAlias /slow {apps}/slow_import.py pool=slow
SubinterpPool impatient interpreters=1 queue-timeout=1
SubinterpScriptAlias /impatient {apps}/slow_import.py pool=impatient
<Location /si-status>
    SetHandler subinterp-status
</Location>
"""
    EXPECTED_LOG = [r"SI0504: pool impatient"]

    def test_static_files_and_other_pools_do_not_wait_for_an_import(self, httpd):
        assert httpd.get("/slow").text == "slow but here"
        mark = len(httpd.log_text())
        httpd.graceful()
        time.sleep(0.3)
        slowest = 0.0
        states = set()
        impatient = None
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            began = time.monotonic()
            assert httpd.get("/", headers={"Connection": "close"}).status_code in (200, 403, 404)
            slowest = max(slowest, time.monotonic() - began)
            pools = httpd.get("/si-status?json", headers={"Connection": "close"}).json()["pools"]
            states.update(i["state"] for p in pools if p["name"] == "slow"
                          for i in p["interpreters"])
            if impatient is None:
                impatient = httpd.get("/impatient", headers={"Connection": "close"})
        # Apache itself starts the new child on its once-a-second tick.
        assert slowest < 2.0, "a static file waited %.1f s for a pool's import" % slowest
        assert "starting" in states, states
        assert impatient.status_code == 503 and impatient.headers["Retry-After"] == "1"
        assert httpd.wait_log(r"SI0504: pool impatient is still loading its apps in this child "
                              r"\(it started \d+ s ago\) and has no interpreter ready after "
                              r"queue-timeout=1 s", start=mark)
        # The slow pool's own request waits for it (queue-timeout 30 s), then is served.
        assert httpd.get("/slow").text == "slow but here"
        assert httpd.wait_log(r"SI0200: child \d+: .* 2 of 2 interpreter\(s\) ready", start=mark)


def test_a_blocking_atexit_in_the_main_interpreter_does_not_keep_the_child(scratch):
    """A gil=main pool's app registers an atexit callback that never returns.  Py_FinalizeEx
    ran it on the exiting child's thread without a bound: the child never exited, and neither
    did a graceful stop.  Now the callbacks run first on a thread of their own, within the exit
    grace; past it, Python is left unfinalized (SI0220) and the child exits."""
    config = DIRECTORY + """
SubinterpPool blocking gil=main
SubinterpScriptAlias /blocking {apps}/blocking_atexit.py pool=blocking
"""
    server = Httpd(scratch, config)
    server.start()
    try:
        assert server.get("/blocking").text == "blocking"
        started = time.monotonic()
        server.stop(timeout=30)
        assert time.monotonic() - started < 15
        assert re.search(r"SI0220: child \d+: the main interpreter's atexit callbacks \(registered "
                         r"by a gil=main pool's app\) did not return", server.log_text())
    finally:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, 9)
