"""`make bench-scaling`: the CPU-bound and Flask workloads at 1, 2, 4, 8 and 16 own-GIL
interpreters against gunicorn sync with as many workers, and the ratio table (issue 25).

The goal is >= 0.9 N of one interpreter's figure on N cores, held against gunicorn's own scaling.
Counts beyond the machine's cores measure oversubscription, not scaling: they are run (the
table says so) unless --counts says otherwise.  wrk keeps 2 connections per interpreter or
worker (16 at least); Apache runs one child with that many threads.
"""
import argparse
import os
import time

import run


def measure(server, workload, seconds, connections):
    path, script = run.WORKLOADS[workload]
    saved = run.THREADS
    run.THREADS = connections          # wrk's -c
    try:
        run.wrk(server.url(path), 1, script)
        return run.wrk(server.url(path), seconds, script)["rps"]
    finally:
        run.THREADS = saved


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="1,2,4,8,16")
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    began = time.monotonic()
    counts = [int(n) for n in args.counts.split(",") if n]
    rows = []
    for n in counts:
        connections = max(16, 2 * n)
        ours = run.Server("own x%d" % n, "subinterp", ("own", n))
        ours.threads = connections
        theirs = run.Server("gunicorn sync x%d" % n, "gunicorn", ("sync", n))
        figures = {}
        for server in (ours, theirs):
            server.start()
            try:
                for workload in ("cpu", "flask"):
                    figures[(server.name, workload)] = measure(server, workload, args.duration,
                                                               connections)
            finally:
                server.stop()
        rows.append((n, figures[(ours.name, "cpu")], figures[(theirs.name, "cpu")],
                     figures[(ours.name, "flask")], figures[(theirs.name, "flask")]))
        print("measured %d: %s" % (n, rows[-1][1:]), flush=True)
    cores = os.cpu_count() or 1
    base = rows[0]
    print("\n%d cores; req/s (scaling: figure / the first row's, goal >= 0.9 N)\n" % cores)
    print("| N | own cpu | gunicorn cpu | ratio | own scaling | own flask | gunicorn flask "
          "| ratio | own scaling |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, oc, gc, of, gf in rows:
        mark = "" if n <= cores else " (> cores)"
        print("| %d%s | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f |" % (
            n, mark, oc, gc, oc / gc if gc else 0, oc / base[1] * base[0] if base[1] else 0,
            of, gf, of / gf if gf else 0, of / base[3] * base[0] if base[3] else 0))
    print("\n%.1f min" % ((time.monotonic() - began) / 60))


if __name__ == "__main__":
    main()
