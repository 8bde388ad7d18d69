"""`make run` (tools/serve): serves the app in the foreground, and stopping it, by Ctrl-C or a
SIGTERM to the script, stops Apache with it instead of leaving a server behind."""
import os
import re
import signal
import subprocess

import pytest
import requests

from conftest import scratch_dir
from harness import MODULE, PRELOAD, ROOT, eventually, free_port


@pytest.mark.skipif(bool(PRELOAD), reason="tests the script, not the module; the sanitizer "
                    "runtime would be preloaded into sh and Python too")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_script_stops_apache(stop):
    scratch = scratch_dir("make-run")   # no brackets in the path: pgrep below reads it as a regex
    port = free_port()
    serve = subprocess.Popen([os.path.join(ROOT, "tools", "serve"), "--module", MODULE, "--app",
                              os.path.join(ROOT, "examples", "hello.py"), "--port", str(port),
                              "--dir", scratch], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def answer():
            try:
                return requests.get("http://127.0.0.1:%d/" % port, timeout=2).status_code
            except requests.RequestException:
                return None
        assert eventually(answer, 200, timeout=30) == 200
        serve.send_signal(stop)   # to the script alone, as a supervisor or kill would
        assert serve.wait(timeout=30) is not None
        assert eventually(answer, None, timeout=10) is None, "Apache still answers"
        with open(os.path.join(scratch, "error.log")) as f:
            log = f.read()
        assert "SI0206" in log, log[-2000:]   # the child ended Python cleanly
        assert not subprocess.run(["pgrep", "-f", scratch], capture_output=True).stdout
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
        pidfile = os.path.join(scratch, "httpd.pid")
        if os.path.exists(pidfile):   # an Apache the script left behind
            with open(pidfile) as f:
                os.kill(int(f.read()), signal.SIGTERM)


@pytest.mark.skipif(bool(PRELOAD), reason="tests the script, not the module; the sanitizer "
                    "runtime would be preloaded into sh and Python too")
def test_make_run_serves_an_app_from_its_virtualenv():
    """`make run APP=... VENV=...`: the app's packages live in its venv (before: SI0302 "No
    module named ..." with no way to say where they are)."""
    from test_pool_environments import make_venv_with_package
    scratch = scratch_dir("make-run-venv")
    os.chmod(scratch, 0o755)
    venv = make_venv_with_package(scratch, "venv", "3.1.4")
    app = os.path.join(scratch, "app.py")
    with open(app, "w") as f:
        f.write("import samepkg\n\n\ndef application(environ, start_response):\n"
                "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [samepkg.VERSION.encode()]\n")
    dry = subprocess.run(["make", "-n", "run", "APP=" + app, "VENV=" + venv], cwd=ROOT,
                         capture_output=True, text=True)
    assert "--venv " + venv in dry.stdout, dry.stdout + dry.stderr
    port = free_port()
    serve = subprocess.Popen([os.path.join(ROOT, "tools", "serve"), "--module", MODULE, "--app",
                              app, "--port", str(port), "--dir", os.path.join(scratch, "run"),
                              "--venv", venv], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    try:
        def answer():
            try:
                return requests.get("http://127.0.0.1:%d/" % port, timeout=2).text
            except requests.RequestException:
                return None
        assert eventually(answer, "3.1.4", timeout=30) == "3.1.4"
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)


def module_runpath():
    out = subprocess.run(["readelf", "-d", MODULE], capture_output=True, text=True).stdout
    found = re.search(r"\((?:RUN|R)PATH\).*\[(.*)\]", out)
    return found.group(1) if found else ""


@pytest.mark.skipif(not re.search(r"(^|:)/(root|home)/", module_runpath()),
                    reason="the module's libpython is outside home directories: make install "
                    "would install it, which a test must not do")
def test_make_install_refuses_a_module_that_loads_python_from_a_home_directory():
    """A system module whose RUNPATH points into /root ties Apache to root's files: make
    install says so and stops unless PYTHON_IN_HOME=ok (before, it installed silently)."""
    out = subprocess.run(["make", "-s", "install"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0
    assert "make install: the module loads libpython from %s, a home directory" \
        % module_runpath() in out.stdout + out.stderr, out.stdout + out.stderr
    assert "PYTHON_IN_HOME=ok" in out.stdout
