"""Start-up imports that kill the process are found by a probe before any child loads them
(src/si_probe.c): the pool is not loaded, its URLs answer 500, SI0305 names the pool, the script
and the module, and every other pool serves.  Without the probe, each child died at start-up and
Apache replaced it forever."""
import os
import re
import subprocess
import sysconfig
import time

import pytest

from conftest import scratch_dir
from harness import APPS, eventually, running

CRASHY = os.path.join(APPS, "crashy")


@pytest.fixture(scope="module")
def extension_dir():
    """crashy.c built for this Python, in a directory Apache's user can read."""
    out = scratch_dir("crashy-build")
    os.chmod(out, 0o755)
    target = os.path.join(out, "crashy" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(["cc", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"],
                    os.path.join(CRASHY, "crashy.c"), "-o", target], check=True)
    os.chmod(target, 0o755)
    return out


def config(extension_dir, gil="own"):
    return """
DefaultRuntimeDir {root}/run
SubinterpPool bad gil=%s python-path=%s
SubinterpPool good
SubinterpScriptAlias /bad {apps}/crashy/crashy_app.py pool=bad
SubinterpScriptAlias /good {apps}/hello.py pool=good
<Location /si-status>
    SetHandler subinterp-status
</Location>
<Directory "{apps}">
    Require all granted
</Directory>
""" % (gil, extension_dir)


def make_root(name):
    root = scratch_dir(name)
    os.makedirs(os.path.join(root, "run"))
    return root


def test_a_crashing_import_fails_its_pool_only(extension_dir):
    expected = [r"SI0305: pool bad", r"SI0502: pool bad is not loaded"]
    with running(make_root("probe"), config(extension_dir), expected) as server:
        log = server.log_text()
        assert "SI0305: pool bad" in log
        assert "importing crashy (for %s/crashy/crashy_app.py) killed a probe process with " \
               "signal 6 (Aborted)" % APPS in log
        assert "gil=shared or gil=main" in log
        assert "exit signal" not in log   # no child died
        assert server.get("/good").text.startswith("Hello")
        r = server.get("/bad")
        assert r.status_code == 500
        server.expect_log(r"SI0502: pool bad is not loaded, so /bad answers 500")
        states = {p["name"]: [i["state"] for i in p["interpreters"]]
                  for p in server.get("/si-status?json").json()["pools"]}
        assert set(states["bad"]) == {"failed"} and set(states["good"]) == {"ready"}

        # A restart with nothing changed takes the verdict from the cache.
        mark = len(server.log_text())
        server.graceful()
        server.wait_log(r"remembered from an earlier start", timeout=20, start=mark)
        assert "remembered from an earlier start" in server.log_text(mark)
        for _ in range(50):
            if server.get("/good").status_code == 200:
                break
            time.sleep(0.1)


def test_the_same_extension_serves_from_the_main_interpreter(extension_dir):
    with running(make_root("probe-main"), config(extension_dir, gil="main")) as server:
        assert server.get("/bad").text == "crashy loaded 1"
        assert "SI0305" not in server.log_text()


class TestCffiExtensionFromAPoolVirtualenv:
    """brotlicffi's init runs in the main interpreter (CPython 3.13 runs every extension init
    there) and imports _cffi_backend, which only the pool's virtualenv has (si_extpath.c).
    Before: gil=own crashed every child at start-up, gil=shared failed to import."""
    VENV = os.path.join(os.path.dirname(APPS), os.pardir, ".venv")
    CONFIG = """
SubinterpPool own interpreters=1 virtualenv=%(venv)s
SubinterpPool legacy gil=shared interpreters=1 virtualenv=%(venv)s
SubinterpScriptAlias /own {apps}/brotli_app.py pool=own
SubinterpScriptAlias /legacy {apps}/brotli_app.py pool=legacy
<Directory "{apps}">
    Require all granted
</Directory>
""" % {"venv": os.path.normpath(VENV)}
    EXPECTED_LOG = [r"SI0303: pool own: (brotlicffi\.)?_brotlicffi \(imported by "
                    r".*brotli_app.py for mount /own\) refuses to load in own-GIL "
                    r"sub-interpreters"]

    def test_gil_shared_imports_it(self, httpd):
        assert httpd.get("/legacy").text == "brotli ok"

    def test_gil_own_refuses_it_cleanly(self, httpd):
        assert httpd.get("/own").status_code == 500
        httpd.expect_log(r"SI0302: pool own interpreter 0: /own")
        log = httpd.log_text()
        assert "SI0305" not in log and "exit signal" not in log


class TestCffiExtensionFromAnAppThread:
    """The same init, run for an import made on an app's own thread (threading.Thread), which
    has no record of ours: the finder takes the interpreter from the thread's own binding.
    Before: ModuleNotFoundError for _cffi_backend."""
    CONFIG = """
SubinterpImportProbe Off
SubinterpPool legacy gil=shared interpreters=1 virtualenv=%(venv)s
SubinterpScriptAlias /thread {apps}/brotli_thread_app.py pool=legacy
SubinterpPool direct gil=shared interpreters=1 virtualenv=%(venv)s
SubinterpScriptAlias /worker {apps}/brotli_thread_app.py pool=direct
<Directory "{apps}">
    Require all granted
</Directory>
""" % {"venv": os.path.normpath(TestCffiExtensionFromAPoolVirtualenv.VENV)}

    def test_an_app_thread_imports_it(self, httpd):
        assert httpd.get("/thread").text == "brotli ok"

    def test_a_worker_thread_imports_it_in_a_request_and_serves_on(self, httpd):
        """The init's end borrows the main interpreter on the request's worker thread (to drop
        what the finder found) and binds the thread's state again: later requests on the same
        worker threads, and the child's exit (no 'exit signal', checked on stop), are as
        before."""
        assert httpd.get("/worker/direct").text == "brotli ok"
        for _ in range(20):
            assert httpd.get("/worker/direct").text == "brotli ok"
            assert httpd.get("/thread").text == "brotli ok"


class TestExtensionInitDependenciesStayPerPool:
    """Two pools' builds of one single-phase extension, each beside its own leakdep.py: the
    init runs in the main interpreter, and the finder found the first pool's leakdep, which
    then stayed in the main interpreter's sys.modules, so the second pool's init got the first
    pool's module (and its secret).  Now what the finder found leaves sys.modules when the
    init ends."""
    CONFIG = """
SubinterpImportProbe Off
<VirtualHost 127.0.0.1:{port}>
    ServerName a.test
    SubinterpPool a gil=shared interpreters=1 python-path={root}/a
    SubinterpScriptAlias / {apps}/leakext/leakext_app.py pool=a
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName b.test
    SubinterpPool b gil=shared interpreters=1 python-path={root}/b
    SubinterpScriptAlias / {apps}/leakext/leakext_app.py pool=b
</VirtualHost>
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.fixture(scope="class")
    def httpd(self):
        root = scratch_dir("TestExtensionInitDependenciesStayPerPool")
        os.chmod(root, 0o755)
        for site in ("a", "b"):
            out = os.path.join(root, site)
            os.makedirs(out)
            os.chmod(out, 0o755)
            subprocess.run(["cc", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"],
                            os.path.join(APPS, "leakext", "leakext.c"), "-o",
                            os.path.join(out, "leakext" + sysconfig.get_config_var("EXT_SUFFIX"))],
                           check=True)
            with open(os.path.join(out, "leakdep.py"), "w") as f:
                f.write("SECRET = 'secret of %s'\n" % site)
            for name in os.listdir(out):
                os.chmod(os.path.join(out, name), 0o755)
        with running(root, self.CONFIG) as server:
            yield server

    def test_each_pool_gets_its_own_dependency(self, httpd):
        assert httpd.get("/", headers={"Host": "a.test"}).text == "secret of a"
        assert httpd.get("/", headers={"Host": "b.test"}).text == "secret of b"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to plant a directory as www-data")
def test_a_probe_cache_another_user_made_first_is_not_trusted(extension_dir):
    """www-data makes the cache directory first and plants a forged verdict, and a link to a
    root-owned file: the parent neither reads nor writes through them (SI0307), and the good
    pool serves."""
    import pwd
    root = make_root("probe-planted")
    run = os.path.join(root, "run")
    os.chmod(run, 0o777)
    planted = os.path.join(run, "subinterp-probe")
    user = pwd.getpwnam("www-data")
    os.makedirs(planted)
    os.chown(planted, user.pw_uid, user.pw_gid)
    os.chmod(planted, 0o777)
    with running(root, config(extension_dir), [r"SI0305: pool bad", r"SI0502", r"SI0307"]) \
            as server:
        assert "SI0307: %s is not a directory of uid 0" % planted in server.log_text()
        assert server.get("/good").text.startswith("Hello")
        assert os.listdir(planted) == []   # nothing written into it
    # A symlink planted in its place is refused the same way; nothing is written through it.
    root = make_root("probe-link")
    elsewhere = scratch_dir("probe-link-target")
    os.chmod(elsewhere, 0o700)
    os.symlink(elsewhere, os.path.join(root, "run", "subinterp-probe"))
    with running(root, config(extension_dir), [r"SI0305: pool bad", r"SI0502", r"SI0307"]) \
            as server:
        assert "SI0307" in server.log_text()
        assert server.get("/good").text.startswith("Hello")
    assert os.listdir(elsewhere) == []


EDITED_CONFIG = """
DefaultRuntimeDir {root}/run
SubinterpImportProbe %s
SubinterpPool edited python-path={root}/app
SubinterpPool good
SubinterpScriptAlias /edited {root}/app/edited_app.py pool=edited
SubinterpScriptAlias /good {apps}/hello.py pool=good
<Directory "{root}/app">
    Require all granted
</Directory>
<Directory "{apps}">
    Require all granted
</Directory>
"""

EDITED_APP = """import helper


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.WORD]
"""


def app_root(name, helper_text):
    """A root whose app/ holds edited_app.py, which imports app/helper.py."""
    root = make_root(name)
    app = os.path.join(root, "app")
    os.makedirs(app)
    for path in (root, app):
        os.chmod(path, 0o755)
    with open(os.path.join(app, "edited_app.py"), "w") as f:
        f.write(EDITED_APP)
    write_helper(root, helper_text)
    return root


def write_helper(root, text):
    """Rewrites app/helper.py in place: its directory's modification time stays as it was."""
    path = os.path.join(root, "app", "helper.py")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def test_a_module_edited_to_crash_is_probed_again(extension_dir):
    """The cached verdict covered the script and the path directories only, so a module the app
    imports, edited in place to abort at import, was never probed: every child died at start-up
    (exit signal Aborted once a second, the good pool's requests timed out).  Now the verdict
    holds only while every file the probe loaded is unchanged."""
    root = app_root("probe-edited", "WORD = b'fine'\n")
    expected = [r"SI0305: pool edited", r"SI0502: pool edited"]
    with running(root, EDITED_CONFIG % "On", expected) as server:
        assert server.get("/edited").text == "fine"
        server.stop()
        write_helper(root, "import os\nos.abort()\nWORD = b'never'\n")
        mark = len(server.log_text())
        server.start()
        log = server.log_text(mark)
        assert "SI0305: pool edited" in log and "importing helper" in log, log
        assert "remembered from an earlier start" not in log
        assert server.get("/good").text.startswith("Hello")
        assert server.get("/edited").status_code == 500
        time.sleep(2)   # a crash loop would show by now
        assert not re.search(r"child pid \d+ exit signal", server.log_text(mark))


def test_a_child_that_dies_loading_a_pool_fails_it_for_the_next_children():
    """Whatever the probe said (here it is off), children that die while loading a pool are seen
    by the next child, which leaves that pool alone (SI0309) and serves every other one: a few
    crashes, not a crash loop that takes every virtual host down."""
    root = app_root("loader-died", "import os\nos.abort()\n")
    expected = [r"SI0309: pool edited", r"exit signal Abort", r"SI0502: pool edited"]
    with running(root, EDITED_CONFIG % "Off", expected) as server:
        server.wait_log(r"SI0309: pool edited .*does not load it", timeout=30, start=0)
        log = server.log_text()
        assert re.search(r"SI0309: pool edited \(.*\): children of this server died while they "
                         r"loaded this pool's apps, the last pid \d+", log), log
        assert eventually(lambda: server.get("/good").status_code, 200, timeout=10) == 200, \
            server.log_text()
        r = server.get("/edited")
        assert r.status_code == 500
        time.sleep(3)
        crashes = len(re.findall(r"child pid \d+ exit signal", server.log_text()))
        # The first child died loading both pools at once; the next ones load each suspect on
        # its own (SI0309 "to find out whether it crashes") and die in the edited one, twice
        # (one death could have been something else); the one after leaves it alone.
        assert 2 <= crashes <= 3, server.log_text()
        status = server.get("/good")
        assert status.status_code == 200
