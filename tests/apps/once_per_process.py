"""Imports in the first interpreter of a process only, as Cython, PyO3 and numpy extensions do
("cannot load module more than once per process"): a second interpreter of the same process
(another slot, a recycled replacement) fails to import it."""
import os
import zlib

with open("/proc/self/stat") as f:
    STARTED = f.read().rsplit(")", 1)[1].split()[19]   # a reused pid is another process
MARKER = "/tmp/si-once-%08x-%d-%s" % (zlib.crc32(os.path.abspath(__file__).encode()),
                                      os.getpid(), STARTED)
try:
    os.close(os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
except FileExistsError:
    raise ImportError("cannot load module more than once per process") from None


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"interpreter %d" % environ["mod_subinterp.interpreter"]]
