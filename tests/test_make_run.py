"""`make run` (tools/serve): serves the app in the foreground, and stopping it, by Ctrl-C or a
SIGTERM to the script, stops Apache with it instead of leaving a server behind."""
import os
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
