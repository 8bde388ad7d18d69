"""Fixtures: `httpd`, one real Apache per test class, configured from the class's CONFIG.

CONFIG is the part of httpd.conf after the common set-up (tools/httpd_conf.py); {apps} stands for
tests/apps, {root} for the server's scratch directory.  HTTPD_OPTIONS (a dict) passes
threads=, mpm= or log_level= to the renderer; EXPECTED_LOG lists regexes of error lines the class
provokes on purpose at start-up.
"""
import re
import shutil
import tempfile

import pytest

from harness import Httpd


def scratch_dir(name):
    """A directory Apache's children (www-data when we are root) can traverse."""
    return tempfile.mkdtemp(prefix="si-%s-" % name)


@pytest.fixture
def scratch(request):
    path = scratch_dir(request.node.name[:40])
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="class")
def httpd(request):
    cls = request.cls
    root = scratch_dir(cls.__name__)
    server = Httpd(root, cls.CONFIG, **getattr(cls, "HTTPD_OPTIONS", {}))
    server.always_expected = [re.compile(p) for p in getattr(cls, "EXPECTED_LOG", ())]
    server.start()
    yield server
    server.stop()
    bad = server.unexpected_log_lines()
    assert not bad, "unexpected error log lines at shutdown:\n" + "\n".join(bad)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _error_log_clean(request):
    """Fails a test that left unexpected errors in its server's log."""
    if "httpd" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("httpd")
    server.expected = []
    yield
    bad = server.unexpected_log_lines()
    assert not bad, "unexpected error log lines:\n" + "\n".join(bad)
