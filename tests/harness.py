"""A real Apache for tests: renders a configuration, starts httpd in the foreground on a free
loopback port, waits until it answers, and watches its error log.

Every test that uses a server ends with a check of the error log: an [error], [crit], [alert] or
[emerg] line, a child killed by a signal, or a Python fatal error fails the test unless the test
said it expected it (Httpd.expect_log).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import httpd_conf  # noqa: E402

APPS = os.path.join(ROOT, "tests", "apps")
HTTPD = os.environ.get("HTTPD", "/usr/sbin/apache2")
# `make asan` runs the suite against a sanitizer build: SI_TEST_MODULE names it, SI_TEST_PRELOAD
# the sanitizer runtime Apache must load first (Apache itself is not instrumented), and
# SI_TEST_SANITIZER_LOGS the directory where the runtime writes its reports (ASAN_OPTIONS
# log_path), which every test checks the way it checks the error log.
MODULE = os.environ.get("SI_TEST_MODULE") or os.path.join(ROOT, ".libs", "mod_subinterp.so")
PRELOAD = os.environ.get("SI_TEST_PRELOAD", "")
SANITIZER_LOGS = os.environ.get("SI_TEST_SANITIZER_LOGS", "")


def httpd_env():
    """The environment Apache runs with: ours, plus the sanitizer runtime when testing one."""
    env = dict(os.environ)
    if PRELOAD:
        env["LD_PRELOAD"] = PRELOAD
    return env


def sanitizer_reports():
    """Texts of sanitizer reports written since the last call (each is then set aside)."""
    if not SANITIZER_LOGS or not os.path.isdir(SANITIZER_LOGS):
        return []
    reports = []
    for name in sorted(os.listdir(SANITIZER_LOGS)):
        path = os.path.join(SANITIZER_LOGS, name)
        if name.startswith("report") and os.path.isfile(path):
            with open(path, errors="replace") as f:
                reports.append("%s:\n%s" % (name, f.read()[:4000]))
            os.makedirs(os.path.join(SANITIZER_LOGS, "seen"), exist_ok=True)
            os.rename(path, os.path.join(SANITIZER_LOGS, "seen", name))
    return reports

# Apps under tests/apps are served from there: Apache must be allowed to map URLs to them.
GRANT_APPS = """
<Directory "{apps}">
    Require all granted
</Directory>
"""

BAD_LINE = re.compile(r"\[(?:[\w_]+:)?(error|crit|alert|emerg)\]|exit signal|Fatal Python error|"
                      r"not the last thread|AddressSanitizer|Segmentation fault")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def allow_core_dumps():
    """With SI_TEST_COREDIR set, crashed children leave a core there (for gdb)."""
    if os.environ.get("SI_TEST_COREDIR") or os.environ.get("SI_TEST_CORELIMIT"):
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                  resource.RLIM_INFINITY))


class running:
    """`with running(root, config) as server:` starts an Httpd, yields it, stops it, fails on
    unexpected error-log lines (beyond `expected` regexes), then removes root."""

    def __init__(self, root, config, expected=(), **conf):
        self.server = Httpd(root, config, **conf)
        self.server.always_expected = [re.compile(p) for p in expected]

    def __enter__(self):
        return self.server.start()

    def __exit__(self, *exc):
        self.server.stop()
        if exc[0] is None:
            bad = self.server.unexpected_log_lines()
            assert not bad, "unexpected error log lines:\n" + "\n".join(bad)
        shutil.rmtree(self.server.root, ignore_errors=True)
        return False


def read_until_closed(sock):
    """Every byte the server sends on sock until it closes the connection."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_until(sock, marker, timeout):
    """Reads until marker arrived (or the server closed); returns what came."""
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_streamed(port, path, first_marker, last_marker):
    """GETs path on a raw connection: (what came up to first_marker, the seconds that took,
    what came after up to last_marker), to tell a streamed response from a buffered one."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path)
        start = time.monotonic()
        first = read_until(s, first_marker, timeout=5)
        elapsed = time.monotonic() - start
        rest = read_until(s, last_marker, timeout=10)
    return first, elapsed, rest


def curl_speaks_http2():
    import shutil
    if not shutil.which("curl") or not os.path.exists("/usr/lib/apache2/modules/mod_http2.so"):
        return False
    return "HTTP2" in subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout


def eventually(probe, expected, timeout=5):
    """Polls probe() until it returns expected (or the time is up); returns the last value.
    For effects that follow a complete response, such as the app's close()."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


class Httpd:
    def __init__(self, root, body, address_space=None, **conf):
        self.root = str(root)
        self.body = body
        self.address_space = address_space   # RLIMIT_AS in bytes for Apache and its children
        self.conf = conf
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.root, "error.log")
        self.checked = 0         # error log offset up to which lines were judged
        self.expected = []       # regexes of lines the current test provoked on purpose
        self.always_expected = []  # regexes of lines the whole class provokes (start-up errors)

    # -- life cycle ------------------------------------------------------------------------
    def write_config(self):
        body = self.body.format(apps=APPS, root=self.root, port=self.port)
        if os.environ.get("SI_TEST_COREDIR"):
            body += '\nCoreDumpDirectory "%s"\n' % os.environ["SI_TEST_COREDIR"]
        return httpd_conf.write(self.root, self.port, MODULE, body, **self.conf)

    def configtest(self):
        """Runs `apache2 -t`; returns (exit code, output)."""
        conf = self.write_config()
        p = subprocess.run([HTTPD, "-t", "-f", conf], capture_output=True, text=True, timeout=30,
                           env=httpd_env())
        return p.returncode, p.stdout + p.stderr

    def start(self, timeout=30):
        conf = self.write_config()
        self.log_at_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        out = open(os.path.join(self.root, "stderr.log"), "ab")
        self.proc = subprocess.Popen([HTTPD, "-f", conf, "-DFOREGROUND"], stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=httpd_env(),
                                     preexec_fn=self.limits)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("httpd exited with %s:\n%s" % (self.proc.returncode,
                                                                   self.startup_output()))
            try:
                requests.get(self.url("/"), timeout=2)
                self.wait_until_loaded(deadline)
                return self
            except (requests.ConnectionError, requests.Timeout):
                # Listening, but still starting (the parent probes pools' imports first).
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("httpd did not answer within %ss:\n%s" % (timeout,
                                                                      self.startup_output()))

    def wait_until_loaded(self, deadline):
        """A child accepts connections while its pools still load (si_startup.c): tests that
        read start-up lines from the log wait for every child's SI0200, or for Python's
        failure to start (SI0201), as before they waited for the child itself."""
        if "Subinterp" not in self.body:
            return
        children = self.conf.get("children", 1)
        # Process pools' processes say SI0200 as "pool NAME process K"; children that run only
        # process pools start no Python and say nothing.
        processes = sum(int(n) for n in re.findall(r"\bprocesses=(\d+)", self.body))
        pools = re.findall(r"^\s*SubinterpPool .*$", self.body, re.M)
        aliases = re.findall(r"^\s*Subinterp(?:ScriptAlias|HandlerScript) .*$", self.body, re.M)
        in_child = (not processes or any("processes=" not in p for p in pools)
                    or any("pool=" not in a for a in aliases))
        while time.monotonic() < deadline:
            text = self.log_text(self.log_at_start)
            if "SI0201" in text or "SI0700" in text:
                return
            if ((not in_child or len(re.findall(r"SI0200: child", text)) >= children)
                    and len(re.findall(r"SI0200: pool \S+ process", text)) >= processes):
                return
            time.sleep(0.05)

    def limits(self):
        allow_core_dumps()
        if self.address_space:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (self.address_space, self.address_space))

    def startup_output(self):
        text = ""
        for name in ("stderr.log", "error.log"):
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                text += open(path, errors="replace").read()
        return text

    def stop(self, timeout=30):
        """apachectl -k graceful-stop.  Not SIGTERM: Apache 2.4.71's event MPM itself segfaults
        in close_worker_sockets() on ~3% of ungraceful stops (measured here without our module
        loaded), which would make every test flaky."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGWINCH)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("httpd did not stop within %ss" % timeout)

    def graceful(self):
        """apachectl -k graceful: the old child finishes its requests, a new one takes over."""
        self.proc.send_signal(signal.SIGUSR1)

    def children(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    # -- requests -----------------------------------------------------------------------------
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.get(self.url(path), **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.post(self.url(path), **kw)

    def raw(self, data, timeout=10):
        """Sends raw bytes on a new connection; returns all bytes until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            return read_until_closed(s)

    # -- the error log ------------------------------------------------------------------------
    def log_text(self, start=0):
        with open(self.log_path, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=10, start=None):
        """Waits until the log (from the current test's start) matches; returns the match."""
        start = self.checked if start is None else start
        rx = re.compile(pattern, re.M | re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_text(start))
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def expect_log(self, pattern, timeout=10):
        """Declares that this test provokes log lines matching pattern, and waits for one."""
        self.expected.append(re.compile(pattern))
        m = self.wait_log(pattern, timeout)
        assert m, "expected a log line matching %r; log:\n%s" % (pattern,
                                                                  self.log_text(self.checked))
        return m

    def unexpected_log_lines(self):
        text = self.log_text(self.checked)
        self.checked += len(text.encode("utf-8", "replace"))
        bad = [line for line in text.splitlines()
               if BAD_LINE.search(line)
               and not any(rx.search(line) for rx in self.expected + self.always_expected)]
        self.expected = []
        return bad + sanitizer_reports()

    def skip_log(self):
        self.checked = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.expected = []
