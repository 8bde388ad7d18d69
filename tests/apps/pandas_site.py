"""pandas (numpy's extensions refuse sub-interpreters): /?n=N sums a DataFrame's columns."""
import json
import os

import pandas as pd


def application(environ, start_response):
    n = int(environ["QUERY_STRING"].partition("=")[2] or 10)
    frame = pd.DataFrame({"a": range(n), "b": [x * 2 for x in range(n)]})
    out = json.dumps({"a": int(frame["a"].sum()), "b": int(frame["b"].sum()),
                      "pid": os.getpid(), "version": pd.__version__}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]
