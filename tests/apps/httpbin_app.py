"""httpbin (from PyPI, in the test venv) as a WSGI app: a real third-party Flask app with a cffi
extension (brotlicffi), served by us and by gunicorn in tests/test_differential.py."""
from httpbin import app as application  # noqa: F401
