"""mod_subinterp against its peers on this machine (`make bench`).

Every contender serves tests/bench/combined.py with the same Python, listens on loopback, gets a
warm-up, then wrk for a fixed time per workload.  The HTTP/2 section runs the Apache contenders
again with mod_http2 (h2c, prior knowledge) under h2load: mod_http2 runs requests on worker
threads of its own.  Repeats are interleaved (A B C ... A B C) and
medians reported, with ratios against mod_subinterp (gil=own, one interpreter per core).  Writes
build/bench/results.json, docs/performance.md and docs/performance.png.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import httpd_conf  # noqa: E402

VENV = sys.prefix
MODULE = os.path.join(ROOT, ".libs", "mod_subinterp.so")
# A 14-byte C handler in the same Apache: the ceiling for any module here (make bench builds it).
CEILING_MODULE = os.path.join(ROOT, "build", "bench", "mod_hello_ceiling.so")
APACHE_KINDS = ("subinterp", "mod_wsgi", "static", "ceiling")
HELLO_ONLY = ("static", "ceiling")   # contenders that serve the hello workload only
APP = os.path.join(HERE, "combined.py")
CORES = os.cpu_count() or 1
THREADS = 16
WORKLOADS = {
    "hello": ("/hello", None),
    "cpu": ("/cpu", None),
    "mixed": ("/mixed", None),
    "stream": ("/stream", None),
    "post": ("/post", os.path.join(HERE, "post.lua")),
    "flask": ("/json", None),
}
# h2load: 4 connections of 4 concurrent streams each, as many requests in flight as wrk's 16.
H2_WORKLOADS = {"h2-hello": "/hello", "h2-flask": "/json"}
H2_CONNECTIONS, H2_STREAMS = 4, 4
# Debian 12's mpm_event.conf, as shipped (later lines of a config win over tools/httpd_conf.py's).
DEBIAN_MPM_EVENT = """StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
ServerLimit 16
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def peak_rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        except (OSError, StopIteration):
            pass
    return total


class Server:
    """A contender: start() returns once it answers; workers() lists the processes that serve."""

    def __init__(self, name, kind, param=None, h2=False):
        self.name, self.kind, self.param, self.h2 = name, kind, param, h2
        self.proc = None
        self.pool_options = ""      # more SubinterpPool options (profile.py experiments)
        self.threads = THREADS      # Apache's ThreadsPerChild
        # The workloads it runs, if not all (keeps make bench short).
        self.only = ("hello", "h2-hello") if kind in HELLO_ONLY else None

    def apache_body(self, root):
        d = '<Directory "%s">\n    Require all granted\n</Directory>\n' % HERE
        if self.kind == "subinterp" and self.param[0] in ("debian", "default"):
            # The pool the README starts with (no options): what users run before they tune
            # anything; "debian" under Debian's /etc/apache2/mods-available/mpm_event.conf as
            # shipped, "default" in our one child of 16 threads.
            mpm = DEBIAN_MPM_EVENT if self.param[0] == "debian" else ""
            return mpm + d + ("SubinterpPool bench virtualenv=%s %s\n"
                              "SubinterpScriptAlias / %s pool=bench\n" % (
                                  VENV, self.pool_options, APP))
        if self.kind == "subinterp" and self.param[0] == "processes":
            # A process pool: gil=main in each process, threads split as mod_wsgi's daemons'
            return d + ("SubinterpPool bench processes=%d threads=%d virtualenv=%s %s\n"
                        "SubinterpScriptAlias / %s pool=bench\n" % (
                            self.param[1], THREADS // self.param[1], VENV, self.pool_options,
                            APP))
        if self.kind == "subinterp":
            gil, n = self.param
            return d + ("SubinterpPool bench interpreters=%d gil=%s virtualenv=%s %s\n"
                        "SubinterpScriptAlias / %s pool=bench\n" % (n, gil, VENV,
                                                                    self.pool_options, APP))
        if self.kind == "mod_wsgi":
            config = subprocess.run([os.path.join(VENV, "bin", "mod_wsgi-express"),
                                     "module-config"], capture_output=True, text=True,
                                    check=True).stdout
            extra = "WSGIPerInterpreterGIL On\n" if self.param == "per-interpreter-gil" else ""
            if self.param == "daemon":
                # mod_wsgi's usual production set-up: daemon processes, one app per process
                extra = ("WSGISocketPrefix %s/wsgi\nWSGIDaemonProcess bench processes=%d "
                         "threads=%d\nWSGIProcessGroup bench\n" % (root, CORES,
                                                                   THREADS // CORES))
            return config + d + extra + ("WSGIApplicationGroup %%{GLOBAL}\n"
                                         "WSGIScriptAlias / %s\n" % APP)
        if self.kind == "static":
            shutil.copy(os.path.join(HERE, "hello.txt"), os.path.join(root, "htdocs", "hello"))
            return ""
        if self.kind == "ceiling":
            return ("LoadModule hello_ceiling_module %s\n<Location /hello>\n"
                    "    SetHandler hello-ceiling\n</Location>\n" % CEILING_MODULE)
        raise ValueError(self.kind)

    def start(self):
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="si-bench-")
        os.chmod(self.root, 0o755)
        started = time.monotonic()
        env = dict(os.environ)
        if self.kind in APACHE_KINDS:
            os.makedirs(os.path.join(self.root, "htdocs"))
            body = self.apache_body(self.root)
            if self.h2:
                body = ("LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so\n"
                        "Protocols h2c http/1.1\n") + body
            conf = httpd_conf.write(self.root, self.port,
                                    MODULE if self.kind == "subinterp" else None, body,
                                    threads=self.threads)
            cmd = ["/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"]
        elif self.kind == "gunicorn":
            worker_class, workers = self.param if isinstance(self.param, tuple) \
                else (self.param, CORES)
            cmd = [os.path.join(VENV, "bin", "gunicorn"), "-w", str(workers), "-k", worker_class,
                   "-b", "127.0.0.1:%d" % self.port, "--chdir", HERE, "--log-level", "warning",
                   "combined:application"]
            if worker_class == "gthread":
                cmd[5:5] = ["--threads", str(THREADS // CORES)]
        elif self.kind == "granian":
            cmd = [os.path.join(VENV, "bin", "granian"), "--interface", "wsgi", "--workers",
                   str(CORES), "--blocking-threads", str(THREADS // CORES), "--host", "127.0.0.1",
                   "--port", str(self.port), "--working-dir", HERE, "--log-level", "warning",
                   "combined:application"]
        else:
            raise ValueError(self.kind)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        probe = "/hello" if self.kind in HELLO_ONLY else "/json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url(probe), timeout=5).status_code == 200 \
                        and self.loaded():
                    self.startup = time.monotonic() - started
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("%s did not start" % self.name)

    def loaded(self):
        """mod_subinterp serves while its loader thread still builds interpreters: started
        means every one is in (SI0200), as before it meant the child had returned."""
        if self.kind != "subinterp":
            return True
        try:
            with open(os.path.join(self.root, "error.log")) as f:
                return "SI0200" in f.read()
        except OSError:
            return False

    def url(self, path):
        if self.kind in HELLO_ONLY:
            path = "/hello"
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def workers(self):
        pids = descendants(self.proc.pid)
        if self.kind in APACHE_KINDS:
            return pids   # Apache's children; the parent never runs Python
        if self.kind == "granian":
            return pids or [self.proc.pid]
        return pids       # gunicorn workers, without the arbiter

    def stop(self):
        if self.proc and self.proc.poll() is None:
            is_apache = self.kind in APACHE_KINDS
            self.proc.send_signal(signal.SIGWINCH if is_apache else signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def wrk(url, seconds, script=None):
    cmd = ["wrk", "-t2", "-c%d" % THREADS, "-d%ds" % seconds, "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60).stdout

    def latency(pct):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % pct, out, re.M)
        if not m:
            return None
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": latency(50), "p99_ms": latency(99),
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def h2load(url, seconds):
    cmd = ["h2load", "-c%d" % H2_CONNECTIONS, "-m%d" % H2_STREAMS, "-t2", "-D%d" % seconds,
           "--warm-up-time=1", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    failed = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    mean = re.search(r"^time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b", out, re.M)
    # h2load gives no percentiles: the mean request time stands in for p50, p99 stays empty.
    return {"rps": rps,
            "p50_ms": float(mean.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[mean.group(2)]
            if mean else None, "p99_ms": None,
            "non2xx": sum(int(x) for x in codes.groups()[1:]) + sum(
                int(x) for x in failed.groups()) if codes and failed else 0,
            "socket_errors": ""}


def measure(server, workload, seconds):
    """One run of workload against a started server: wrk after a warm-up, or h2load (which
    warms up itself)."""
    if workload in H2_WORKLOADS:
        return h2load(server.url(H2_WORKLOADS[workload]), seconds)
    path, script = WORKLOADS[workload]
    wrk(server.url(path), 1, script)
    return wrk(server.url(path), seconds, script)


def h2_contenders(selected):
    """The Apache contenders that matter over HTTP/2: ours at one interpreter per core and with
    the default pool (issue 25 judges the configuration users start with), mod_wsgi, and the C
    handler's ceiling."""
    out = [Server("mod_subinterp own x%d" % CORES, "subinterp", ("own", CORES), h2=True),
           Server("mod_subinterp default pool", "subinterp", ("default", 0), h2=True),
           Server("mod_wsgi embedded", "mod_wsgi", "embedded", h2=True),
           Server("mod_wsgi per-interpreter GIL", "mod_wsgi", "per-interpreter-gil", h2=True),
           Server("C handler (ceiling)", "ceiling", h2=True)]
    # Flask only for the two that stand beside others in no hello target, to keep make bench
    # near 15 min.
    for c in out:
        if c.param in (("default", 0), "per-interpreter-gil"):
            c.only = ("h2-flask",)
    return [c for c in out if not selected or any(s in c.name for s in selected)]


def contenders(selected):
    out = [Server("mod_subinterp own x%d" % n, "subinterp", ("own", n))
           for n in range(1, CORES + 1)]
    out += [
        Server("mod_subinterp default pool", "subinterp", ("default", 0)),
        Server("mod_subinterp Debian stock MPM", "subinterp", ("debian", 0)),
        Server("mod_subinterp shared", "subinterp", ("shared", 1)),
        Server("mod_wsgi embedded", "mod_wsgi", "embedded"),
        Server("mod_wsgi per-interpreter GIL", "mod_wsgi", "per-interpreter-gil"),
        Server("mod_subinterp process pool x%d" % CORES, "subinterp", ("processes", CORES)),
        Server("mod_wsgi daemon x%d" % CORES, "mod_wsgi", "daemon"),
        Server("gunicorn sync x%d" % CORES, "gunicorn", "sync"),
        Server("gunicorn gthread x%d" % CORES, "gunicorn", "gthread"),
        Server("granian wsgi x%d" % CORES, "granian"),
        Server("apache static file", "static"),
        Server("C handler (ceiling)", "ceiling"),
    ]
    # The newer contenders run the workloads their targets name, to keep make bench near 15 min.
    # Contenders that only stand beside others in a target leave out stream and post.
    for c in out:
        if (c.param and c.param[0] in ("debian", "default", "shared")) or c.param == "gthread":
            c.only = ("hello", "cpu", "mixed", "flask")
        elif c.param == "per-interpreter-gil":
            c.only = ("hello", "cpu", "flask")
        elif (c.param and c.param[0] == "processes") or c.param == "daemon":
            c.only = ("hello", "flask", "mixed")
    # The same pool with ThreadsPerChild at 2 per interpreter: what docs/hot-path.md found
    # for CPU-bound apps (fewer GIL handoffs and thread migrations per request).
    tuned = Server("mod_subinterp own x%d, %d threads" % (CORES, 2 * CORES), "subinterp",
                   ("own", CORES))
    tuned.threads, tuned.only = 2 * CORES, ("cpu", "flask")
    out.insert(CORES, tuned)
    # The same pool with each interpreter's requests pinned to a CPU of its own.
    pinned = Server("mod_subinterp own x%d, cpu-affinity=on" % CORES, "subinterp",
                    ("own", CORES))
    pinned.pool_options, pinned.only = "cpu-affinity=on", ("hello", "cpu", "mixed", "flask")
    out.insert(CORES + 1, pinned)
    for scaling in out[:CORES - 1]:
        scaling.only = ("hello", "cpu")   # the chart's points below one interpreter per core
    return [c for c in out if not selected or any(s in c.name for s in selected)]


def startup_times(repeats):
    times = {}
    for n in (2, 8):
        samples = []
        for _ in range(repeats):
            server = Server("startup", "subinterp", ("own", n)).start()
            samples.append(server.startup)
            server.stop()
        times[n] = statistics.median(samples)
    return times


def memory_comparison(seconds):
    """Peak RSS serving hello-world: one Apache child with 8 own-GIL interpreters against
    8 gunicorn sync workers (summed)."""
    out = {}
    for server in (Server("mod_subinterp own x8", "subinterp", ("own", 8)),
                   Server("gunicorn sync x8", "gunicorn", ("sync", 8))):
        server.start()
        try:
            wrk(server.url("/hello"), seconds)
            out[server.name] = peak_rss_kb(server.workers())
        finally:
            server.stop()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workloads", default=",".join(list(WORKLOADS) + list(H2_WORKLOADS)))
    parser.add_argument("--only", default="", help="comma-separated contender name parts")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = parser.parse_args()
    began = time.monotonic()
    workloads = [w for w in args.workloads.split(",") if w in WORKLOADS]
    h2_workloads = [w for w in args.workloads.split(",") if w in H2_WORKLOADS]
    selected = [s for s in args.only.split(",") if s]
    servers = contenders(selected) if workloads else []
    h2_servers = h2_contenders(selected) if h2_workloads else []
    runs = {}          # (contender, workload) -> [result, ...]
    rss = {}
    for repeat in range(args.repeats):
        for server in servers + h2_servers:
            server.start()
            try:
                for workload in [w for w in (h2_workloads if server.h2 else workloads)
                                 if not server.only or w in server.only]:
                    result = measure(server, workload, args.duration)
                    runs.setdefault((server.name, workload), []).append(result)
                    # h2load gives no percentiles: its mean request time stands in for p50
                    p99 = result["p99_ms"]
                    print("%-32s %-8s %10.1f req/s  p50 %6.2f ms  p99 %s ms %s" % (
                        server.name, workload, result["rps"], result["p50_ms"] or 0,
                        "%7.2f" % p99 if p99 is not None else "      -",
                        "non-2xx or failed %d" % result["non2xx"] if result["non2xx"] else ""),
                        flush=True)
                if not server.h2:
                    rss[server.name] = max(rss.get(server.name, 0),
                                           peak_rss_kb(server.workers()))
            finally:
                server.stop()
    startup = startup_times(args.repeats)
    memory8 = memory_comparison(min(args.duration, 3))
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": "%d cores, %s" % (CORES, os.uname().machine),
        "python": sys.version.split()[0],
        "command": "make bench BENCH_ARGS='%s'" % " ".join(sys.argv[1:]),
        "duration": args.duration, "repeats": args.repeats,
        "medians": {"%s|%s" % k: {m: statistics.median([r[m] for r in v if r[m] is not None]
                                                        or [0]) or None
                                  for m in ("rps", "p50_ms", "p99_ms")}
                    | {"non2xx": sum(r["non2xx"] for r in v)} for k, v in runs.items()},
        "peak_rss_kb": rss,
        "startup_seconds": startup,
        "peak_rss_kb_8": memory8,
        "minutes": round((time.monotonic() - began) / 60, 1),
        "h2_shape": "%d connections x %d streams" % (H2_CONNECTIONS, H2_STREAMS),
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    import report
    report.write(results, [s.name for s in servers], workloads,
                 [s.name for s in h2_servers], h2_workloads)


if __name__ == "__main__":
    main()
