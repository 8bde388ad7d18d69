"""What loads in an own-GIL interpreter, measured, and checked against docs/compatibility.md so
the page never states what was not measured."""
import os
import re
import sys

from harness import ROOT

VENV = sys.prefix
PACKAGES = ["flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker",
            "django", "asgiref", "sqlparse", "requests", "urllib3", "idna", "certifi",
            "charset_normalizer", "numpy"]


def documented(marker):
    text = open(os.path.join(ROOT, "docs", "compatibility.md")).read()
    block = re.search(r"<!-- measured:%s -->\n(.*?)<!-- /measured -->" % marker, text, re.S)
    assert block, "docs/compatibility.md lacks the %s block" % marker
    return sorted(re.findall(r"^- `([\w.]+)`", block.group(1), re.M))


class TestCompatibility:
    CONFIG = """
SubinterpPool own interpreters=1 virtualenv=%s
SubinterpScriptAlias /probe {apps}/compat_probe.py pool=own
<Directory "{apps}">
    Require all granted
</Directory>
""" % VENV

    def test_stdlib_modules_that_refuse_own_gil_interpreters(self, httpd):
        result = httpd.get("/probe", timeout=120).json()
        assert not result["failed"], result["failed"]
        assert result["ok"] > 200
        assert sorted(result["refused"]) == documented("stdlib-refused"), result["refused"]

    def test_packages(self, httpd):
        result = httpd.get("/probe?packages=" + ",".join(PACKAGES), timeout=120).json()
        assert sorted(result["refused"] + list(result["failed"])) == \
            documented("packages-refused"), result
        assert sorted(set(PACKAGES) - set(result["refused"]) - set(result["failed"])) == \
            documented("packages-ok")
