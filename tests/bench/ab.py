"""Compares two builds of mod_subinterp on one workload, interleaved A B A B ..., and prints
medians and the B/A ratio: how a change to the request path lands with before/after figures
from one run.

    build/bench-venv/bin/python tests/bench/ab.py BEFORE.so AFTER.so [--workload hello]

A change behind a pool option compares one build with itself:

    ... ab.py .libs/mod_subinterp.so .libs/mod_subinterp.so --after-options cpu-affinity=on
"""
import argparse
import os
import statistics

import run


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--workload", default="hello")
    parser.add_argument("--interpreters", type=int, default=run.CORES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--before-options", default="", help="more SubinterpPool options")
    parser.add_argument("--after-options", default="", help="more SubinterpPool options")
    parser.add_argument("--processes", type=int, default=0,
                        help="a process pool of this many processes (make bench's process pool "
                             "contender) instead of own xN in one child")
    parser.add_argument("--debian", action="store_true",
                        help="the default pool under Debian's stock mpm_event.conf (make bench's "
                             "Debian contender) instead of own xN in one child")
    args = parser.parse_args()
    path, script = run.WORKLOADS[args.workload]
    if args.debian:
        contender, shape = ("debian", 0), "Debian stock MPM"
    elif args.processes:
        contender, shape = ("processes", args.processes), "process pool x%d" % args.processes
    else:
        contender, shape = ("own", args.interpreters), "own x%d" % args.interpreters
    results = {"before": [], "after": []}
    p99 = {"before": [], "after": []}
    for _ in range(args.rounds):
        for label, module, options in (("before", args.before, args.before_options),
                                       ("after", args.after, args.after_options)):
            run.MODULE = os.path.abspath(module)
            server = run.Server(label, "subinterp", contender)
            server.pool_options = options
            server.start()
            try:
                run.wrk(server.url(path), 1, script)
                measured = run.wrk(server.url(path), args.duration, script)
            finally:
                server.stop()
            results[label].append(measured["rps"])
            p99[label].append(measured["p99_ms"])
            print("%-6s %10.1f req/s, p99 %.2f ms" % (label, measured["rps"], measured["p99_ms"]),
                  flush=True)
    before, after = (statistics.median(results[k]) for k in ("before", "after"))
    p99_before, p99_after = (statistics.median(p99[k]) for k in ("before", "after"))
    print("median before %.1f, after %.1f req/s: after/before = %.3f; p99 before %.2f, after "
          "%.2f ms: before/after = %.3f (%s, %s, %d rounds of %d s)" % (
              before, after, after / before, p99_before, p99_after, p99_before / p99_after,
              args.workload, shape, args.rounds, args.duration))


if __name__ == "__main__":
    main()
