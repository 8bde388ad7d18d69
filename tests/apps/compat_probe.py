"""Imports every standard-library module (and ?packages=a,b the given packages) in this
interpreter and reports which refuse it, which are absent from this build, and which fail
otherwise."""
import importlib
import json
import sys

SKIP = {"antigravity", "this", "idlelib", "turtle", "turtledemo", "tkinter", "__main__",
        "__hello__", "__phello__", "_tkinter", "pydoc_data",
        "_ios_support"}   # Apple platforms only: needs the Objective-C runtime


def probe(names):
    refused, missing, failed, ok = [], [], {}, []
    for name in sorted(names):
        if name in SKIP or name in sys.modules:
            ok.append(name)
            continue
        try:
            importlib.import_module(name)
            ok.append(name)
        except ImportError as e:
            text = str(e)
            chain = e.__cause__ or e.__context__
            if "does not support loading in subinterpreters" in text or (
                    chain and "does not support loading in subinterpreters" in str(chain)):
                refused.append(name)
            elif isinstance(e, ModuleNotFoundError) and e.name == name:
                missing.append(name)
            else:
                failed[name] = text[:200]
        except Exception as e:   # noqa: BLE001 - report, whatever it is
            failed[name] = "%s: %s" % (type(e).__name__, str(e)[:200])
    return {"refused": refused, "missing": missing, "failed": failed, "ok": len(ok)}


def application(environ, start_response):
    query = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    if "packages" in query:
        result = probe(query["packages"].split(","))
    else:
        result = probe(sys.stdlib_module_names)
    body = json.dumps(result).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
