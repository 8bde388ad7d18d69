"""Says which interpreter and OS thread ran the request; ?sleep=S holds it that long, ?spin=MS
keeps its CPU busy that long;
/sqlite runs a sqlite3 user-defined function (called back through PyGILState_Ensure); /executor
says which CPUs a ThreadPoolExecutor's thread made in the request may run on."""
import json
import os
import sqlite3
import sys
import threading
import time

LOADED_AT = time.time()
IMPORT_TOKEN = os.urandom(8).hex()   # differs for every execution of this module


def application(environ, start_response):
    query = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "spin" in query:   # CPU time, in ms
        end = time.thread_time() + float(query["spin"]) / 1000
        while time.thread_time() < end:
            pass
    info = {
        "interpreter": environ["mod_subinterp.interpreter"],
        "pool": environ["mod_subinterp.pool"],
        "generation": environ["mod_subinterp.generation"],
        "sys_id": id(sys),
        "thread": threading.get_native_id(),
        "cpus": sorted(os.sched_getaffinity(0)),
        "loaded_at": LOADED_AT,
        "import_token": IMPORT_TOKEN,
    }
    if environ["PATH_INFO"] == "/executor":
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            info["executor_cpus"] = ex.submit(lambda: sorted(os.sched_getaffinity(0))).result()
    if environ["PATH_INFO"] == "/sqlite":
        db = sqlite3.connect(":memory:")
        db.create_function("twice", 1, lambda v: (v * 2, id(sys))[0])
        seen = []
        db.create_function("which", 0, lambda: seen.append(id(sys)) or len(seen))
        info["sqlite"] = db.execute("select twice(21), which()").fetchone()
        info["callback_sys_id"] = seen[0]
        db.close()
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
