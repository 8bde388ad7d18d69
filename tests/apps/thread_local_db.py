"""Per-thread resources as Django keeps them: a sqlite3 connection with a Python user function
and a ctypes callback, each in a threading.local of the worker thread that served the request.
Their C destructors call PyGILState_Ensure, wherever the thread state that holds them is cleared
(recycling, reload, child exit)."""
import ctypes
import sqlite3
import threading

local = threading.local()
libc = ctypes.CDLL(None)
COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))


def application(environ, start_response):
    if not hasattr(local, "conn"):
        local.conn = sqlite3.connect(":memory:", check_same_thread=False)
        local.conn.create_function("twice", 1, lambda x: x * 2, deterministic=True)
        local.compare = COMPARE(lambda a, b: a[0] - b[0])
    value = local.conn.execute("select twice(21)").fetchone()[0]
    numbers = (ctypes.c_int * 4)(3, 1, 4, 2)
    libc.qsort(numbers, 4, ctypes.sizeof(ctypes.c_int), local.compare)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d %s" % (value, b",".join(b"%d" % n for n in numbers))]
