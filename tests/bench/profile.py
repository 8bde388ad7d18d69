"""Where one workload's time goes under load: CPU per request, context switches and migrations,
and a perf profile by shared object and by symbol, for any contender of run.py.

    build/bench-venv/bin/python tests/bench/profile.py [--workload flask] [--contender own]

wrk loads the server as in `make bench` while `perf stat` and `perf record -g` watch its serving
processes (cpu-clock sampling: works without hardware counters).  Python functions show by name
when the app enables perf's trampoline (SI_PERF_TRAMPOLINE=1 makes combined.py do so).  Prints a
summary and leaves perf's reports in --out.  Needs perf (Debian: linux-perf); not part of
`make bench`.
"""
import argparse
import os
import re
import shutil
import subprocess
import threading

import run

CONTENDERS = {
    "own": lambda n: run.Server("mod_subinterp own x%d" % n, "subinterp", ("own", n)),
    "shared": lambda n: run.Server("mod_subinterp shared", "subinterp", ("shared", 1)),
    "mod_wsgi": lambda n: run.Server("mod_wsgi embedded", "mod_wsgi", "embedded"),
    "granian": lambda n: run.Server("granian wsgi x%d" % run.CORES, "granian"),
    "gunicorn": lambda n: run.Server("gunicorn sync x%d" % run.CORES, "gunicorn", "sync"),
    "ceiling": lambda n: run.Server("C handler (ceiling)", "ceiling"),
}


IN_PROCESS = r"""
import io, sys, time
sys.path.insert(0, sys.argv[1])
import combined
environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": sys.argv[2],
           "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
           "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000",
           "HTTP_HOST": "127.0.0.1:8080", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
           "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
           "wsgi.multiprocess": False, "wsgi.run_once": False}
def start_response(status, headers, exc_info=None):
    return lambda data: None
def call():
    result = combined.application(dict(environ), start_response)
    for chunk in result:
        pass
    close = getattr(result, "close", None)
    if close:
        close()
for _ in range(2000):
    call()
n = 20000
started = time.perf_counter()
for _ in range(n):
    call()
print((time.perf_counter() - started) / n * 1e6)
"""


def in_process_us(path):
    """The same app call without a server: environ in, body iterated, close() called."""
    out = subprocess.run([os.path.join(run.VENV, "bin", "python"), "-c", IN_PROCESS, run.HERE,
                          path], capture_output=True, text=True, check=True).stdout
    return float(out)


def perf_stat(pids, seconds):
    out = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock,context-switches,"
                          "cpu-migrations", "-p", ",".join(map(str, pids)), "--", "sleep",
                          str(seconds)], capture_output=True, text=True).stderr
    stats = {}
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].replace(".", "").isdigit():
            stats[fields[2]] = float(fields[0])
    return stats


def perf_report(data, sort, limit):
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort",
                          sort, "-g", "none", "--percent-limit", str(limit)],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip() and not line.startswith("#")]


def main():
    if not shutil.which("perf"):
        raise SystemExit("profile.py needs perf (Debian: apt-get install linux-perf)")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", default="flask", choices=sorted(run.WORKLOADS))
    parser.add_argument("--contender", default="own", choices=sorted(CONTENDERS))
    parser.add_argument("--interpreters", type=int, default=run.CORES)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--pool-options", default="", help="more SubinterpPool options")
    parser.add_argument("--apache-threads", type=int, default=run.THREADS)
    parser.add_argument("--out", default=os.path.join(run.ROOT, "build", "bench", "profile"))
    parser.add_argument("--module", default=run.MODULE,
                        help="the mod_subinterp build to load (a copy of an earlier one)")
    args = parser.parse_args()
    run.MODULE = os.path.abspath(args.module)
    os.makedirs(args.out, exist_ok=True)
    path, script = run.WORKLOADS[args.workload]
    server = CONTENDERS[args.contender](args.interpreters)
    server.pool_options, server.threads = args.pool_options, args.apache_threads
    server.start()
    try:
        url = server.url(path)
        run.wrk(url, 1, script)
        pids = server.workers()
        result = {}
        load = threading.Thread(target=lambda: result.update(
            run.wrk(url, 2 * args.seconds + 2, script)))
        load.start()
        stats = perf_stat(pids, args.seconds)
        data = os.path.join(args.out, "%s-%s.data" % (args.contender, args.workload))
        subprocess.run(["perf", "record", "-q", "-F", "999", "-g", "-o", data, "-p",
                        ",".join(map(str, pids)), "--", "sleep", str(args.seconds)],
                       capture_output=True)
        load.join()
    finally:
        server.stop()
    rps = result["rps"]
    requests = rps * args.seconds
    print("%s, %s: %.0f req/s over the whole run" % (server.name, args.workload, rps))
    print("per request, in the serving processes: %.1f us CPU, %.2f context switches, "
          "%.3f migrations" % (stats.get("task-clock", 0) * 1000 / requests,
                               stats.get("context-switches", 0) / requests,
                               stats.get("cpu-migrations", 0) / requests))
    if path != "/post":
        print("the same app call in-process, one thread: %.1f us" % in_process_us(path))
    for sort, limit in (("dso", 1), ("dso,sym", 0.7)):
        lines = perf_report(data, sort, limit)
        with open(data + ".%s.txt" % sort.replace(",", "-"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\nperf, self time by %s:" % sort)
        for line in lines[:40]:
            print("  " + re.sub(r"\s+", " ", line.strip()))


if __name__ == "__main__":
    main()
