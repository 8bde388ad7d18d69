#!/usr/bin/env python3
"""make storm: 100 graceful restarts, then 20 restarts, of an Apache under constant load.

Passes when no child dumped core or died of a signal, no "not the last thread" or "Fatal Python
error" reached the log, and no request was lost: every request on a fresh connection succeeds
outside the hard restarts, and the only other failures are connections Apache itself drops (a
retiring child closing an idle keep-alive connection as a request arrives on it, children killed
by a hard restart).  Prints a JSON report.

    tests/reliability/restart_storm.py [--graceful N] [--restarts N] [--mpm event|worker]
        [--without-module]   (the same storm against Apache with no mod_subinterp: a control)
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(HERE, "tests"))
import harness  # noqa: E402
from harness import Httpd  # noqa: E402

WITH_MODULE = """
SubinterpPool storm interpreters=2 max-requests=500
SubinterpScriptAlias /hello {apps}/hello.py pool=storm
SubinterpScriptAlias /env {apps}/environ.py
<Directory "{apps}">
    Require all granted
</Directory>
"""
# The control serves a static file instead: Apache alone, same MPM, same signals.
WITHOUT_MODULE = """
Alias /hello "{root}/htdocs/hello.txt"
Alias /env "{root}/htdocs/hello.txt"
"""
DROPPED = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


class Load:
    """Threads that request without pause, keeping (phase, kind, outcome) counts.  Half open a
    new connection per request ("fresh": any failure is a lost request); half reuse keep-alive
    connections ("keep-alive": a retiring child closes idle ones, and a request the client sent
    on such a connection as it closed comes back "closed without response", the race RFC 9112
    9.3.1 leaves clients to retry)."""

    def __init__(self, server, threads=8):
        self.server = server
        self.phase = "warm-up"
        self.counts = {}
        self.errors = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = [threading.Thread(target=self.run, args=("fresh" if i % 2 else
                                                                "keep-alive",), daemon=True)
                        for i in range(threads)]

    def note(self, kind, outcome, detail=None):
        with self.lock:
            key = (self.phase, kind, outcome)
            self.counts[key] = self.counts.get(key, 0) + 1
            if detail and len(self.errors.setdefault(self.phase, [])) < 5:
                self.errors[self.phase].append("%s: %s" % (kind, detail))

    def run(self, kind):
        while not self.stopping:
            try:
                with requests.Session() as s:
                    for n in range(20 if kind == "keep-alive" else 1):
                        path = ("/hello", "/env")[n % 2]
                        headers = {"Connection": "close"} if kind == "fresh" else {}
                        r = s.get(self.server.url(path), timeout=30, headers=headers)
                        ok = r.status_code == 200
                        self.note(kind, "ok" if ok else "status %d" % r.status_code,
                                  None if ok else "%s %d" % (path, r.status_code))
            except DROPPED as e:
                self.note(kind, "dropped", repr(e)[:200])
            except Exception as e:   # noqa: BLE001 - anything else is a failure to report
                self.note(kind, "other", repr(e)[:200])

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        for t in self.threads:
            t.join(60)


def wait_generation(server, pids_before, timeout=30):
    """Waits until the children differ from pids_before (the restart took effect)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = set(server.children())
        if now and not now & pids_before:
            return True
        time.sleep(0.05)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--graceful", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--mpm", default="event")
    parser.add_argument("--without-module", action="store_true")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="si-storm-")
    cores = os.path.join(root, "cores")
    os.makedirs(cores)
    os.chmod(cores, 0o1777)
    os.environ["SI_TEST_COREDIR"] = cores
    body = WITHOUT_MODULE if args.without_module else WITH_MODULE
    server = Httpd(root, body, mpm=args.mpm, threads=16, children=2)
    if args.without_module:
        harness.MODULE = None
    os.makedirs(os.path.join(root, "htdocs"), exist_ok=True)
    with open(os.path.join(root, "htdocs", "hello.txt"), "w") as f:
        f.write("Hello, world!\n")
    started = time.monotonic()
    server.start()
    slow_generations = 0
    try:
        with Load(server) as load:
            time.sleep(2)
            load.phase = "graceful"
            for _ in range(args.graceful):
                before = set(server.children())
                server.graceful()
                slow_generations += not wait_generation(server, before)
            time.sleep(2)
            load.phase = "restart"
            for _ in range(args.restarts):
                before = set(server.children())
                server.proc.send_signal(signal.SIGHUP)
                slow_generations += not wait_generation(server, before)
                time.sleep(0.5)
            load.phase = "after"
            time.sleep(3)
    finally:
        server.stop(timeout=60)
    log = server.log_text()
    crashes = [line for line in log.splitlines()
               if "exit signal" in line or "not the last thread" in line
               or "Fatal Python error" in line or "AddressSanitizer" in line]
    core_files = os.listdir(cores)
    counts = {"%s/%s/%s" % k: v for k, v in sorted(load.counts.items())}
    # Lost: any failure of a fresh connection outside the hard restarts, and anything but a
    # dropped connection (a 5xx, a wrong answer) anywhere.
    lost = sum(v for (phase, kind, outcome), v in load.counts.items()
               if outcome != "ok" and (outcome != "dropped"
                                       or (kind == "fresh" and phase != "restart")))
    keepalive_races = sum(v for (phase, kind, outcome), v in load.counts.items()
                          if kind == "keep-alive" and outcome == "dropped" and phase != "restart")
    hard_restart_drops = sum(v for (phase, kind, outcome), v in load.counts.items()
                             if phase == "restart" and outcome == "dropped")
    report = {
        "date": time.strftime("%Y-%m-%d"), "mpm": args.mpm, "module": not args.without_module,
        "graceful_restarts": args.graceful, "restarts": args.restarts,
        "seconds": round(time.monotonic() - started), "requests": counts,
        "lost_requests": lost,
        "keepalive_close_races_outside_hard_restarts": keepalive_races,
        "connections_dropped_by_hard_restarts": hard_restart_drops,
        "generations_not_replaced_in_30s": slow_generations,
        "crash_lines": crashes[:10], "core_files": core_files,
        "examples": load.errors, "log": server.log_path,
    }
    print(json.dumps(report, indent=2))
    ok = not crashes and not core_files and lost == 0 and slow_generations == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
