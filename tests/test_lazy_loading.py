"""preload=off: apps are imported by the first request that needs each, once per interpreter;
a failed import answers 500 and is retried after a backoff; a request timeout during the
first import is a 504 and the next request imports."""
import concurrent.futures
import os
import time

import pytest

from conftest import scratch_dir
from harness import GRANT_APPS as DIRECTORY, running


class TestLazyLoading:
    CONFIG = DIRECTORY + """
SubinterpPool lazy interpreters=2 preload=off
SubinterpScriptAlias /who {apps}/whoami.py pool=lazy
SubinterpScriptAlias /broken {apps}/broken_import.py pool=lazy
"""
    EXPECTED_LOG = [r"SI0301: pool lazy", r"SI0302"]

    def test_apps_are_imported_on_first_use(self, httpd):
        assert not httpd.wait_log(r"SI0300|SI0301", timeout=0.5, start=0)
        before = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            answers = [f.result().json() for f in
                       [ex.submit(httpd.get, "/who") for _ in range(16)]]
        assert all(a["loaded_at"] >= before for a in answers)
        per_interp = {}
        for a in answers:
            per_interp.setdefault(a["interpreter"], set()).add(a["loaded_at"])
        assert all(len(v) == 1 for v in per_interp.values()), "imported more than once"
        assert httpd.wait_log(r"SI0300: pool lazy interpreter \d: \S+whoami.py imported on "
                              r"first use", start=0)

    def test_failing_lazy_import_is_a_500(self, httpd):
        assert httpd.get("/broken").status_code == 500
        assert httpd.get("/who").status_code == 200


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
