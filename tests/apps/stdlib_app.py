"""A plain WSGI app that leans on the standard library's C parts: sqlite3, datetime, zoneinfo,
decimal, json, hashlib, ssl, threading (a thread it starts), logging to wsgi.errors."""
import datetime
import decimal
import hashlib
import json
import logging
import sqlite3
import ssl
import threading
import zoneinfo

DB = sqlite3.connect(":memory:", check_same_thread=False)
DB.execute("create table t (k text, v text)")
LOCK = threading.Lock()


def worker(results):
    results.append(sum(range(1000)))


def application(environ, start_response):
    with LOCK:
        DB.execute("insert into t values (?, ?)", ("k", "v"))
        rows = DB.execute("select count(*) from t").fetchone()[0]
    results = []
    t = threading.Thread(target=worker, args=(results,))
    t.start()
    t.join()
    log = logging.getLogger("stdlib_app")
    handler = logging.StreamHandler(environ["wsgi.errors"])
    log.addHandler(handler)
    log.warning("stdlib app logged through wsgi.errors")
    log.removeHandler(handler)
    ctx = ssl.create_default_context()
    body = json.dumps({
        "rows": rows,
        "now_utc": datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.timezone.utc).isoformat(),
        "paris": datetime.datetime(2026, 1, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
                 .utcoffset().total_seconds(),
        "decimal": str(decimal.Decimal("1.10") + decimal.Decimal("2.205")),
        "sha256": hashlib.sha256(b"abc").hexdigest(),
        "ssl_verify": ctx.verify_mode == ssl.CERT_REQUIRED,
        "thread_result": results[0],
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
