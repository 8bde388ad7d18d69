"""Child start and exit: graceful restarts under load lose no request, stops are clean."""
import re
import threading
import time

import requests

DIRECTORY = """
<Directory "{apps}">
    Require all granted
</Directory>
"""


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
        try:
            for _ in range(3):
                time.sleep(1.0)
                httpd.graceful()
            time.sleep(1.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
        failures = [r for r in results if r[1] != 200]
        assert not failures, failures[:10]
        assert len(results) > 50
        children = set(re.findall(r"SI0200: child (\d+)", httpd.log_text(0)))
        assert len(children) >= 4, "graceful restarts did not replace the child"
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
