"""Reports which `samepkg` this interpreter imports, and which path markers it can see."""
import importlib.util
import json
import os
import site
import sys

import samepkg

BASE_SITE = {os.path.realpath(p) for p in site.getsitepackages([sys.base_prefix])}


def application(environ, start_response):
    body = json.dumps({
        "samepkg": samepkg.VERSION,
        "lib1": importlib.util.find_spec("marker_lib1") is not None,
        "global": importlib.util.find_spec("marker_global") is not None,
        "base_site": any(os.path.realpath(p) in BASE_SITE for p in sys.path),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
