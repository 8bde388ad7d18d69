"""Reports whether the pool's SubinterpImportScript ran before this app was imported."""
import json
import sys

MARKER_AT_IMPORT = "si_import_marker" in sys.modules


def application(environ, start_response):
    marker = sys.modules.get("si_import_marker")
    body = json.dumps({"before_app": MARKER_AT_IMPORT,
                       "runs": getattr(marker, "runs", 0),
                       "interpreter": environ["mod_subinterp.interpreter"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
