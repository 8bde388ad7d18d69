"""What every contender serves: the workloads of bench_app.py, and Flask's /json."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if os.environ.get("SI_PERF_TRAMPOLINE"):   # tests/bench/profile.py: Python frames for perf
    sys.activate_stack_trampoline("perf")

import bench_app  # noqa: E402
import flask_app  # noqa: E402


def application(environ, start_response):
    if environ["PATH_INFO"] == "/json":
        return flask_app.application(environ, start_response)
    return bench_app.application(environ, start_response)
