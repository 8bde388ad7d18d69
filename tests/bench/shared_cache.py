"""mod_subinterp.shared.cache against Redis on loopback and per-interpreter dicts
(`make bench-shared`).

One Apache with a pool of one own-GIL interpreter per core serves tests/bench/shared_cache_app.py;
CLIENTS concurrent requests each run N operations of one kind inside the app, so the figures are
what app code sees (no HTTP in the loop).  redis-server runs on 127.0.0.1 without persistence and
is reached with redis-py.  Rounds are interleaved (dict, shared, redis, dict, ...) and medians
reported; ops/s is all operations over the wall time of the round.  Writes
build/bench/shared_cache.json and prints a Markdown table for docs/shared-state.md.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from harness import GRANT_APPS, Httpd, free_port  # noqa: E402

BACKENDS = ("dict", "shared", "redis")
OPS = ("get", "set", "incr")
CORES = os.cpu_count() or 1


def start_redis(port):
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def round_ops(server, backend, op, clients, requests, n, redis_port):
    path = "/b?backend=%s&op=%s&n=%d&redis_port=%d" % (backend, op, n, redis_port)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        answers = list(ex.map(lambda _: server.get(path, timeout=120).json(), range(requests)))
    wall = time.perf_counter() - started
    return sum(a["ops"] for a in answers) / wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interpreters", type=int, default=CORES)
    ap.add_argument("--clients", type=int, default=2 * CORES)
    ap.add_argument("--requests", type=int, default=4 * CORES)
    ap.add_argument("--ops", type=int, default=20000, help="operations per request")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    redis_port = free_port()
    redis = start_redis(redis_port)
    root = tempfile.mkdtemp(prefix="si-bench-shared-")
    config = GRANT_APPS.replace("{apps}", HERE) + """
SubinterpPool bench interpreters=%d virtualenv=%s
SubinterpScriptAlias /b %s/shared_cache_app.py pool=bench
""" % (args.interpreters, sys.prefix, HERE)
    server = Httpd(root, config, threads=max(16, args.clients))
    results = {b: {o: [] for o in OPS} for b in BACKENDS}
    try:
        server.start()
        for backend in BACKENDS:   # warm up: connections made, keys present for get
            round_ops(server, backend, "set", args.clients, args.requests, 1000, redis_port)
        for _ in range(args.rounds):
            for op in OPS:
                for backend in BACKENDS:
                    results[backend][op].append(round_ops(
                        server, backend, op, args.clients, args.requests, args.ops, redis_port))
    finally:
        server.stop()
        redis.terminate()
        redis.wait()
        shutil.rmtree(root, ignore_errors=True)

    medians = {b: {o: statistics.median(v) for o, v in ops.items()} for b, ops in results.items()}
    out = {"date": time.strftime("%Y-%m-%d"), "cores": CORES, "args": vars(args),
           "ops_per_second": medians, "rounds": results}
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench", "shared_cache.json"), "w") as f:
        json.dump(out, f, indent=2)
    print("| operation | per-interpreter dict | mod_subinterp.shared | Redis (loopback) | "
          "shared / Redis |")
    print("|---|---:|---:|---:|---:|")
    for op in OPS:
        d, s, r = (medians[b][op] for b in BACKENDS)
        print("| %s | %s | %s | %s | %.1fx |" % (op, fmt(d), fmt(s), fmt(r), s / r))
    print("\n%d interpreter(s), %d clients x %d requests x %d ops, median of %d rounds, %d cores"
          % (args.interpreters, args.clients, args.requests, args.ops, args.rounds, CORES))


def fmt(ops):
    return "{:,.0f}".format(ops)


if __name__ == "__main__":
    main()
