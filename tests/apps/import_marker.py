"""SubinterpImportScript: runs in every interpreter of the pool before its apps load."""
import sys
import time
import types

marker = types.ModuleType("si_import_marker")
marker.loaded_at = time.monotonic()
marker.runs = getattr(sys.modules.get("si_import_marker"), "runs", 0) + 1
sys.modules["si_import_marker"] = marker
