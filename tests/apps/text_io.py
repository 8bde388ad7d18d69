"""Text the way apps write it: a non-ASCII file name and content through open()'s default
encoding, print(), sys.stderr, unconfigured logging, and a signal handler registered at import."""
import json
import locale
import logging
import os
import signal
import sys
import tempfile

signal.signal(signal.SIGTERM, lambda *args: None)   # refused outside Apache's control: ignored
print("text_io imported")   # no request: the line still says which pool wrote it


def application(environ, start_response):
    folder = tempfile.mkdtemp(prefix="si-text-")
    path = os.path.join(folder, "café-ünïcode.txt")
    with open(path, "w") as f:
        f.write("naïve ☃\n")
    with open(path) as f:
        roundtrip = f.read() == "naïve ☃\n"
    os.unlink(path)
    os.rmdir(folder)
    print("stdout: café")
    sys.stderr.write("stderr: naïve\n")
    logging.warning("logging: über")
    body = json.dumps({"fs": sys.getfilesystemencoding(), "utf8_mode": sys.flags.utf8_mode,
                       "preferred": locale.getpreferredencoding(False), "roundtrip": roundtrip,
                       "sigterm_is_ours": signal.getsignal(signal.SIGTERM) is not None
                       and callable(signal.getsignal(signal.SIGTERM))})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
