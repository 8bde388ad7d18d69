"""Flask with Flask-Caching on mod_subinterp.shared: a cached view, a hit counter and a rate
limit that hold for the whole pool, not per interpreter (docs/shared-state.md).

    SubinterpPool site interpreters=4 virtualenv=/srv/venv python-path=/path/to/mod_subinterp/python
    SubinterpScriptAlias / /path/to/examples/flask_cached.py pool=site
"""
import time
import uuid

import mod_subinterp
from flask import Flask, abort, jsonify, request
from flask_caching import Cache

app = Flask(__name__)
app.config["CACHE_TYPE"] = "mod_subinterp_caching.SubinterpCache"
app.config["CACHE_DEFAULT_TIMEOUT"] = 60
cache = Cache(app)


def interpreter():
    return request.environ.get("mod_subinterp.interpreter")


@app.route("/report")
@cache.cached(timeout=30)
def report():
    """Expensive to make: made once per 30 s for the whole pool."""
    time.sleep(0.2)
    return jsonify(report=uuid.uuid4().hex, made_by=interpreter())


@app.route("/hits")
def hits():
    return jsonify(hits=cache.cache.inc("hits"), interpreter=interpreter())


@app.route("/limited")
def limited():
    """At most 5 requests per client address per minute, counted across the pool."""
    key = "rate:" + request.remote_addr
    cache.add(key, 0, timeout=60)
    if cache.cache.inc(key) > 5:   # the backend's atomic incr
        abort(429)
    return jsonify(ok=True)


@app.route("/info")
def info():
    return jsonify(version=mod_subinterp.version, stats=mod_subinterp.shared.cache.stats())


application = app
