raise ImportError("import_failing.py fails on purpose")
