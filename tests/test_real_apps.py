"""Real applications: Flask, Django, the standard library's C parts, and an extension
that refuses sub-interpreters.  The apps import their packages from the test venv (virtualenv=)."""
import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import scratch_dir
from harness import GRANT_APPS as DIRECTORY, ROOT, running

VENV = sys.prefix


class TestFlask:
    CONFIG = DIRECTORY + """
SubinterpPool flask interpreters=2 virtualenv=%s
SubinterpScriptAlias /app {apps}/flask_site/app.py pool=flask
""" % VENV
    EXPECTED_LOG = [r"SI0401: pool flask .*RuntimeError: flask view failed"]

    def test_routing_and_json(self, httpd):
        assert httpd.get("/app/").text == "flask index"
        assert httpd.get("/app/item/21?q=x").json() == {"id": 21, "doubled": 42, "query": "x"}
        r = httpd.post("/app/echo-json", json={"b": 1, "a": [1, 2]})
        assert r.json() == {"received": {"b": 1, "a": [1, 2]}, "keys": ["a", "b"]}

    def test_session_cookie(self, httpd):
        import requests
        with requests.Session() as s:
            counts = [s.get(httpd.url("/app/visit")).json()["visits"] for _ in range(4)]
        assert counts == [1, 2, 3, 4], "the signed session cookie must work in every interpreter"

    def test_multipart_upload(self, httpd):
        data = os.urandom(300_000)
        r = httpd.post("/app/upload", files={"file": ("blob.bin", data)}, data={"note": "hi"})
        assert r.json() == {"name": "blob.bin", "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest(), "field": "hi"}

    def test_streaming(self, httpd):
        r = httpd.get("/app/stream")
        assert r.text == "".join("line %d\n" % i for i in range(5))
        assert r.headers["Transfer-Encoding"] == "chunked"

    def test_errors(self, httpd):
        assert httpd.get("/app/missing").status_code == 404
        assert httpd.get("/app/crash").status_code == 500   # Flask's own error page
        # Flask logs the exception through wsgi.errors: one entry, traceback included.
        httpd.expect_log(r"\[client [\d.:]+\] \[pool flask:\d\] \[[-\d :,]+\] ERROR in app: Exception on /crash "
                         r"\[GET\]\\nTraceback .*RuntimeError: flask view failed on purpose$")
        assert httpd.get("/app/").status_code == 200


class TestDjango:
    CONFIG = """
SubinterpPool django interpreters=2 virtualenv=%s
SubinterpScriptAlias / {apps}/django_site/wsgi.py pool=django
Alias /static/ {root}/static/
<Directory "{root}/static">
    Require all granted
</Directory>
""" % VENV + DIRECTORY

    @pytest.fixture(scope="class")
    def httpd(self):
        root = scratch_dir("TestDjango")
        data = os.path.join(root, "data")
        os.makedirs(data)
        env = dict(os.environ, SI_DJANGO_DB=os.path.join(data, "db.sqlite3"),
                   SI_DJANGO_STATIC=os.path.join(root, "static"))
        manage = os.path.join(ROOT, "tests", "apps", "django_site", "manage.py")
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            subprocess.run([sys.executable, manage] + command, env=env, check=True,
                           capture_output=True)
        # sqlite writes its journal beside the database: the directory must be writable
        if os.geteuid() == 0:
            for path in (data, env["SI_DJANGO_DB"]):
                shutil.chown(path, "www-data", "www-data")
        saved = {k: os.environ.get(k) for k in ("SI_DJANGO_DB", "SI_DJANGO_STATIC")}
        os.environ.update({k: env[k] for k in saved})   # Apache's children inherit it
        try:
            with running(root, self.CONFIG) as server:
                yield server
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)

    def test_admin_login_page(self, httpd):
        r = httpd.get("/admin/login/")
        assert r.status_code == 200
        assert "csrfmiddlewaretoken" in r.text and "Django" in r.text

    def test_form_post_with_csrf(self, httpd):
        import requests
        with requests.Session() as s:
            page = s.get(httpd.url("/notes/"))
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            r = s.post(httpd.url("/notes/"), data={"csrfmiddlewaretoken": token,
                                                    "text": "written through Django"},
                       allow_redirects=True)
            assert r.status_code == 200
            assert "written through Django" in r.json()["notes"]
            refused = s.post(httpd.url("/notes/"), data={"text": "no token"},
                             headers={"Cookie": ""})
            assert refused.status_code == 403

    def test_both_interpreters_share_the_sqlite_database(self, httpd):
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            lists = list(ex.map(lambda _: httpd.get("/notes/list?sleep").json(), range(12)))
        assert {l["interpreter"] for l in lists} == {0, 1}
        assert len({tuple(l["notes"]) for l in lists}) == 1

    def test_static_files_served_by_apache(self, httpd):
        r = httpd.get("/static/notes/style.css")
        assert r.status_code == 200 and "sans-serif" in r.text
        admin_css = httpd.get("/static/admin/css/base.css")
        assert admin_css.status_code == 200 and len(admin_css.content) > 1000


class TestStandardLibrary:
    CONFIG = DIRECTORY + """
SubinterpPool stdlib interpreters=2
SubinterpScriptAlias /std {apps}/stdlib_app.py pool=stdlib
"""
    EXPECTED_LOG = [r"stdlib app logged through wsgi.errors"]

    def test_c_parts_of_the_stdlib_work_in_own_gil_interpreters(self, httpd):
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            answers = list(ex.map(lambda _: httpd.get("/std").json(), range(8)))
        a = answers[0]
        assert a["now_utc"] == "2026-01-01T12:00:00+00:00"
        assert a["paris"] == 3600
        assert a["decimal"] == "3.305"
        assert a["sha256"].startswith("ba7816bf")
        assert a["ssl_verify"] is True
        assert a["thread_result"] == 499500
        assert sum(x["rows"] for x in answers) >= 8
        assert httpd.wait_log(r"\] stdlib app logged through wsgi.errors$")


class TestRefusingExtension:
    CONFIG = DIRECTORY + """
SubinterpPool numpy-own interpreters=2 virtualenv=%(venv)s
SubinterpScriptAlias /own {apps}/numpy_app.py pool=numpy-own
SubinterpPool numpy-main gil=main virtualenv=%(venv)s
SubinterpScriptAlias /main {apps}/numpy_app.py pool=numpy-main
""" % {"venv": VENV}
    EXPECTED_LOG = [r"SI0303: pool numpy-own", r"SI0302: pool numpy-own"]

    def test_own_gil_pool_explains_and_answers_500(self, httpd):
        lines = re.findall(r"^.*SI0303.*$", httpd.log_text(0), re.M)
        assert len(lines) == 1, "one line per pool, not one per interpreter"
        assert re.search(r"SI0303: pool numpy-own: numpy\._core\._multiarray_umath \(imported by "
                         r"\S+numpy_app.py for mount /own\) refuses to load in own-GIL "
                         r"sub-interpreters; serve it from a pool with gil=main \(or gil=shared",
                         lines[0]), lines[0]
        assert "SI0301" not in httpd.log_text(0)
        for _ in range(3):
            assert httpd.get("/own").status_code == 500
        httpd.expect_log(r"SI0302: pool numpy-own interpreter \d: /own .*has no app")

    def test_same_app_works_with_gil_main(self, httpd):
        r = httpd.get("/main")
        assert r.status_code == 200 and r.text.startswith("numpy 2.") and r.text.endswith("sum=45")
