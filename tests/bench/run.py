"""mod_subinterp against its peers on this machine (`make bench`).

Every contender serves tests/bench/combined.py with the same Python, listens on loopback, gets a
warm-up, then wrk for a fixed time per workload.  Repeats are interleaved (A B C ... A B C) and
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

    def __init__(self, name, kind, param=None):
        self.name, self.kind, self.param = name, kind, param
        self.proc = None

    def apache_body(self, root):
        d = '<Directory "%s">\n    Require all granted\n</Directory>\n' % HERE
        if self.kind == "subinterp":
            gil, n = self.param
            return d + ("SubinterpPool bench interpreters=%d gil=%s virtualenv=%s\n"
                        "SubinterpScriptAlias / %s pool=bench\n" % (n, gil, VENV, APP))
        if self.kind == "mod_wsgi":
            config = subprocess.run([os.path.join(VENV, "bin", "mod_wsgi-express"),
                                     "module-config"], capture_output=True, text=True,
                                    check=True).stdout
            extra = "WSGIPerInterpreterGIL On\n" if self.param == "per-interpreter-gil" else ""
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
            conf = httpd_conf.write(self.root, self.port,
                                    MODULE if self.kind == "subinterp" else None, body,
                                    threads=THREADS)
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
                if requests.get(self.url(probe), timeout=5).status_code == 200:
                    self.startup = time.monotonic() - started
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("%s did not start" % self.name)

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


def contenders(selected):
    out = [Server("mod_subinterp own x%d" % n, "subinterp", ("own", n))
           for n in range(1, CORES + 1)]
    out += [
        Server("mod_subinterp shared", "subinterp", ("shared", 1)),
        Server("mod_wsgi embedded", "mod_wsgi", "embedded"),
        Server("mod_wsgi per-interpreter GIL", "mod_wsgi", "per-interpreter-gil"),
        Server("gunicorn sync x%d" % CORES, "gunicorn", "sync"),
        Server("gunicorn gthread x%d" % CORES, "gunicorn", "gthread"),
        Server("granian wsgi x%d" % CORES, "granian"),
        Server("apache static file", "static"),
        Server("C handler (ceiling)", "ceiling"),
    ]
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
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--only", default="", help="comma-separated contender name parts")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    servers = contenders([s for s in args.only.split(",") if s])
    runs = {}          # (contender, workload) -> [result, ...]
    rss = {}
    for repeat in range(args.repeats):
        for server in servers:
            server.start()
            try:
                for workload in workloads if server.kind not in HELLO_ONLY else ["hello"]:
                    path, script = WORKLOADS[workload]
                    wrk(server.url(path), 1, script)        # warm-up
                    result = wrk(server.url(path), args.duration, script)
                    runs.setdefault((server.name, workload), []).append(result)
                    print("%-32s %-7s %10.1f req/s  p50 %6.2f ms  p99 %7.2f ms %s" % (
                        server.name, workload, result["rps"], result["p50_ms"] or 0,
                        result["p99_ms"] or 0, "non-2xx %d" % result["non2xx"]
                        if result["non2xx"] else ""), flush=True)
                rss[server.name] = max(rss.get(server.name, 0), peak_rss_kb(server.workers()))
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
        "medians": {"%s|%s" % k: {m: statistics.median(r[m] for r in v if r[m] is not None)
                                  for m in ("rps", "p50_ms", "p99_ms")}
                    | {"non2xx": sum(r["non2xx"] for r in v)} for k, v in runs.items()},
        "peak_rss_kb": rss,
        "startup_seconds": startup,
        "peak_rss_kb_8": memory8,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    import report
    report.write(results, [s.name for s in servers], workloads)


if __name__ == "__main__":
    main()
