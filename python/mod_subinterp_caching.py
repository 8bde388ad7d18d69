"""A Flask-Caching backend on mod_subinterp.shared.cache: one cache for every interpreter of a
mod_subinterp pool, with no server to run (docs/shared-state.md).

    app.config["CACHE_TYPE"] = "mod_subinterp_caching.SubinterpCache"
    cache = flask_caching.Cache(app)

Put this file's directory on the pool's python-path (or copy the file into the app).  Values are
pickled, as Flask-Caching's Redis backend does, except ints, which stay ints so that inc() and
dec() are the cache's own atomic incr.  Timeouts are seconds; 0 means no expiry.  Outside Apache
(tests, `flask run`) mod_subinterp is not importable: use another CACHE_TYPE there.
"""
import pickle

from flask_caching.backends.base import BaseCache
from mod_subinterp.shared import cache as _shared


class SubinterpCache(BaseCache):
    def __init__(self, default_timeout=300, key_prefix="", **options):
        super().__init__(default_timeout=default_timeout, **options)
        self.key_prefix = key_prefix

    @classmethod
    def factory(cls, app, config, args, kwargs):
        kwargs.setdefault("default_timeout", config.get("CACHE_DEFAULT_TIMEOUT", 300))
        kwargs.setdefault("key_prefix", config.get("CACHE_KEY_PREFIX") or "")
        return cls(*args, **kwargs)

    def _ttl(self, timeout):
        timeout = self._normalize_timeout(timeout)
        return None if not timeout or timeout <= 0 else timeout

    @staticmethod
    def _dump(value):
        if type(value) is int:
            return value
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def _load(stored):
        return pickle.loads(stored) if type(stored) is bytes else stored

    def get(self, key):
        stored = _shared.get(self.key_prefix + key)
        return None if stored is None else self._load(stored)

    def set(self, key, value, timeout=None):
        _shared.set(self.key_prefix + key, self._dump(value), ttl=self._ttl(timeout))
        return True

    def add(self, key, value, timeout=None):
        return _shared.add(self.key_prefix + key, self._dump(value), ttl=self._ttl(timeout))

    def delete(self, key):
        return _shared.delete(self.key_prefix + key)

    def has(self, key):
        return (self.key_prefix + key) in _shared

    def inc(self, key, delta=1):
        return _shared.incr(self.key_prefix + key, delta)

    def dec(self, key, delta=1):
        return _shared.incr(self.key_prefix + key, -delta)

    def clear(self):
        # the whole pool's cache: a prefix does not partition it
        _shared.clear()
        return True
