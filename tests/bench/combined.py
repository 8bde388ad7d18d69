"""What every contender serves: the workloads of bench_app.py, and Flask's /json."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_app  # noqa: E402
import flask_app  # noqa: E402


def application(environ, start_response):
    if environ["PATH_INFO"] == "/json":
        return flask_app.application(environ, start_response)
    return bench_app.application(environ, start_response)
