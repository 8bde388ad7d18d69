#!/usr/bin/env python3
"""make soak: 1,000,000 requests across 3 virtual hosts and 4 pools at concurrency 64, with
recycling on, in rounds of 100,000; after each round, the child's RSS.  Fails on any failed or
non-2xx request, and on memory growth: more than 5 % after warm-up without recycling, or more
per recycled interpreter than CPython itself keeps of one.  Prints a JSON report
(docs/reliability.md keeps the figures).

    tests/reliability/soak.py [--requests N] [--max-requests N]

Bounded: N requests (default 1,000,000), each ab run capped at 10 minutes.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(HERE, "tests"))
from harness import APPS, running  # noqa: E402

CONFIG = """
KeepAliveTimeout 30
MaxKeepAliveRequests 0
<VirtualHost *:{port}>
    ServerName a.test
    SubinterpPool a-hello interpreters=2 max-requests={max_requests}
    SubinterpPool a-echo interpreters=2 max-requests={max_requests}
    SubinterpScriptAlias /hello {apps}/hello.py pool=a-hello
    SubinterpScriptAlias /echo {apps}/echo.py pool=a-echo
</VirtualHost>
<VirtualHost *:{port}>
    ServerName b.test
    SubinterpPool b-env interpreters=2 max-requests={max_requests}
    SubinterpScriptAlias /env {apps}/environ.py pool=b-env
</VirtualHost>
<VirtualHost *:{port}>
    ServerName c.test
    SubinterpPool c-stream interpreters=2 max-requests={max_requests}
    SubinterpScriptAlias /stream {apps}/stream.py pool=c-stream
</VirtualHost>
<Directory "{apps}">
    Require all granted
</Directory>
"""

# (Host, path, POST body or None): four ab streams of 16 connections each, one per pool.
STREAMS = [("a.test", "/hello", None), ("a.test", "/echo", b"x" * 512),
           ("b.test", "/env/soak?x=1", None), ("c.test", "/stream/write?0", None)]
CONCURRENCY = 64
# What CPython 3.13.0 alone keeps per ended own-GIL interpreter is ~1.7-2.6 MB (docs/reliability.md);
# growth per recycle above this bound is ours.
CPYTHON_KIB_PER_ENDED_INTERPRETER = 3 * 1024


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total


def ab(port, host, path, body, count, workdir):
    cmd = ["ab", "-q", "-k", "-r", "-n", str(count), "-c", str(CONCURRENCY // len(STREAMS)),
           "-s", "60", "-H", "Host: %s" % host]
    if body is not None:
        body_file = os.path.join(workdir, "body.bin")
        with open(body_file, "wb") as f:
            f.write(body)
        cmd += ["-p", body_file, "-T", "application/octet-stream"]
    return subprocess.Popen(cmd + ["http://127.0.0.1:%d%s" % (port, path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse(output):
    def number(label):
        m = re.search(r"^%s:\s+(\d+)" % re.escape(label), output, re.M)
        return int(m.group(1)) if m else 0
    # ab counts a body whose length differs from the first one's as "failed (Length)"; environ
    # echoes REMOTE_PORT, so only Connect, Receive and Exceptions are failures here.
    detail = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)",
                       output)
    failed = (int(detail.group(1)) + int(detail.group(2)) + int(detail.group(4))) if detail \
        else number("Failed requests")
    return {"complete": number("Complete requests"), "failed": failed,
            "detail": detail.group(0) if detail and failed else None,
            "non_2xx": number("Non-2xx responses"),
            "rps": float(re.search(r"Requests per second:\s+([\d.]+)", output).group(1))
            if "Requests per second" in output else 0.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--round", type=int, default=100_000)
    parser.add_argument("--max-requests", type=int, default=20_000,
                        help="recycle after N requests per interpreter; 0: never")
    parser.add_argument("--threads", type=int, default=3 * CONCURRENCY,
                        help="ThreadsPerChild of the one child")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="si-soak-")
    root = tempfile.mkdtemp(prefix="si-soak-root-")
    config = CONFIG.replace(" max-requests={max_requests}", " max-requests=%d" % args.max_requests
                            if args.max_requests else "")
    report = {"date": time.strftime("%Y-%m-%d"), "requests": 0, "failed": 0, "non_2xx": 0,
              "rounds": [], "max_requests": args.max_requests, "concurrency": CONCURRENCY}
    started = time.monotonic()
    # Spare workers by default, though Apache may still note that it reached MaxRequestWorkers.
    with running(root, config, [r"AH00484: server reached MaxRequestWorkers"],
                 threads=args.threads) as server:
        children = server.children()
        report["rss_kib_at_start"] = rss_kib(children)
        done = 0
        while done < args.requests:
            per_stream = min(args.round, args.requests - done) // len(STREAMS)
            procs = [ab(server.port, h, p, b, per_stream, workdir) for h, p, b in STREAMS]
            results = []
            for proc in procs:
                out, _ = proc.communicate(timeout=600)
                results.append(parse(out))
            done += per_stream * len(STREAMS)
            round_report = {
                "after": done, "rss_kib": rss_kib(server.children()),
                "children": server.children(),
                "complete": sum(r["complete"] for r in results),
                "failed": sum(r["failed"] for r in results),
                "non_2xx": sum(r["non_2xx"] for r in results),
                "rps": round(sum(r["rps"] for r in results)),
            }
            details = {"%s%s" % (h, p): r["detail"] for (h, p, _), r in zip(STREAMS, results)
                       if r["detail"]}
            if details:
                round_report["failures"] = details
            report["rounds"].append(round_report)
            report["requests"] += round_report["complete"]
            report["failed"] += round_report["failed"]
            report["non_2xx"] += round_report["non_2xx"]
            print(json.dumps(round_report), flush=True)
        report["recycles"] = server.log_text().count("SI0210")
        report["max_request_workers_reached"] = server.log_text().count("AH00484")
        report["threads"] = args.threads
    report["seconds"] = round(time.monotonic() - started)
    after_warmup = [r["rss_kib"] for r in report["rounds"][1:]] or [report["rounds"][0]["rss_kib"]]
    report["rss_spread_after_warmup"] = round((max(after_warmup) - min(after_warmup))
                                              / min(after_warmup), 4)
    # CPython 3.13.0 keeps ~2 MB of every own-GIL interpreter it ends (gh-113055), so with
    # recycling RSS grows by that per recycle; a leak of ours would add to it.
    growth = report["rounds"][-1]["rss_kib"] - report["rounds"][0]["rss_kib"]
    report["rss_growth_per_recycle_kib"] = round(growth / report["recycles"]) \
        if report["recycles"] else None
    memory_ok = (report["rss_spread_after_warmup"] <= 0.05 if not report["recycles"]
                 else report["rss_growth_per_recycle_kib"] <= CPYTHON_KIB_PER_ENDED_INTERPRETER)
    shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    ok = (report["failed"] == 0 and report["non_2xx"] == 0 and report["requests"] == args.requests
          and memory_ok)
    if not memory_ok:
        print("soak: RSS not flat: %s" % ("spread %.1f %% after warm-up" % (
            100 * report["rss_spread_after_warmup"]) if not report["recycles"] else
            "%d KiB per recycle" % report["rss_growth_per_recycle_kib"]))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
