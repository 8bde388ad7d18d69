"""Fails at import time, so its mount answers 500 with SI0302 while others keep working."""
raise ImportError("broken_import.py fails to import on purpose")
