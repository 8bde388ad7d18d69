"""AddHandler-style scripts (SetHandler subinterp-script, SubinterpHandlerScript): each file its
own app, loaded as needed, reloaded when changed."""
import os
import time

from conftest import scratch_dir
from harness import APPS, running
from httpd_conf import BASE_MODULES


class TestHandlerScripts:
    """SetHandler/AddHandler subinterp-script (a .wsgi file per URL) and SubinterpHandlerScript."""
    HTTPD_OPTIONS = {"modules": BASE_MODULES + ("mime",)}
    CONFIG = """
TypesConfig /etc/mime.types
SubinterpPool files interpreters=2
SubinterpHandlerScript md-render {apps}/md_handler.py
Alias /h {apps}/handler_dir
Alias /noexec {apps}/handler_dir
Alias /nopool {apps}/handler_dir
Alias /docs {apps}/handler_dir
Alias /hc {apps}/handler_dir
<Directory "{apps}/handler_dir">
    Require all granted
</Directory>
<Location /h>
    Options +ExecCGI
    AddHandler subinterp-script .wsgi
    SubinterpHandlerPool files
</Location>
<Location /hc>
    Options +ExecCGI
    AddHandler subinterp-script .wsgi
    SubinterpHandlerPool files
    SubinterpCallableObject app
</Location>
<Location /noexec>
    Options -ExecCGI
    AddHandler subinterp-script .wsgi
    SubinterpHandlerPool files
</Location>
<Location /nopool>
    Options +ExecCGI
    SetHandler subinterp-script
</Location>
<Location /docs>
    AddHandler md-render .md
</Location>
"""

    def test_each_file_is_its_own_app(self, httpd):
        r = httpd.get("/h/hello.wsgi")
        assert r.status_code == 200 and r.text == "hello from a .wsgi file\n"
        env = httpd.get("/h/env.wsgi/extra/path?q=1").json()
        assert env["SCRIPT_NAME"] == "/h/env.wsgi"
        assert env["PATH_INFO"] == "/extra/path"
        assert env["QUERY_STRING"] == "q=1"
        assert env["SCRIPT_FILENAME"] == os.path.join(APPS, "handler_dir", "env.wsgi")
        assert env["mod_subinterp.pool"] == "files"

    def test_files_load_in_every_interpreter_as_needed(self, httpd):
        seen = {httpd.get("/h/env.wsgi").json()["mod_subinterp.interpreter"] for _ in range(20)}
        assert seen == {0, 1}

    def test_callable_object_names_the_callable_per_directory(self, httpd):
        # The same file under two directories, with a different callable in each.
        assert httpd.get("/hc/callable.wsgi").text == "the callable named app"
        assert httpd.get("/h/callable.wsgi").text == "the default application"

    def test_missing_file_is_404(self, httpd):
        assert httpd.get("/h/missing.wsgi").status_code == 404
        httpd.expect_log(r"AH00128: File does not exist|SI0312")

    def test_exec_cgi_is_required(self, httpd):
        assert httpd.get("/noexec/hello.wsgi").status_code == 403
        httpd.expect_log(r"SI0313: Options ExecCGI is off in the directory of \S+hello.wsgi")

    def test_handler_pool_is_required(self, httpd):
        assert httpd.get("/nopool/hello.wsgi").status_code == 500
        httpd.expect_log(r"SI0311: \S+hello.wsgi is handled by subinterp-script but no "
                         r"SubinterpHandlerPool is in effect there")

    def test_broken_file_is_500_and_logged(self, httpd):
        assert httpd.get("/h/broken.wsgi").status_code == 500
        httpd.expect_log(r"SI0301: pool files interpreter \d: loading \S+broken.wsgi for script "
                         r"\S+broken.wsgi failed; it answers 500:\\nTraceback.*SyntaxError")
        httpd.expect_log(r"SI0302")
        assert httpd.get("/h/hello.wsgi").status_code == 200

    def test_named_handler_script_renders_resources(self, httpd):
        r = httpd.get("/docs/readme.md")
        assert r.status_code == 200
        assert "<h1>Title</h1>" in r.text and "<p>Some text.</p>" in r.text
        assert r.text.startswith("<!-- /docs/readme.md ")
        # Files the handler is not mapped to are served as usual.
        assert httpd.get("/docs/hello.wsgi").text.startswith("def application")


def test_handler_files_reload_when_changed(scratch):
    """With SubinterpScriptReloading On, an edited .wsgi file is imported again."""
    app_dir = os.path.join(scratch, "wsgi")
    os.makedirs(app_dir)
    os.chmod(scratch, 0o755)
    script = os.path.join(app_dir, "v.wsgi")

    def write(version):
        with open(script, "w") as f:
            f.write("def application(e, s):\n    s('200 OK', [])\n    return [b'%s']\n" % version)
        os.chmod(script, 0o644)

    write("one")
    config = """
SubinterpScriptReloading On
SubinterpPool files interpreters=1
Alias /w "%s"
<Directory "%s">
    Require all granted
    Options +ExecCGI
    SetHandler subinterp-script
    SubinterpHandlerPool files
</Directory>
""" % (app_dir, app_dir)
    with running(scratch_dir("reload-files"), config) as server:
        assert server.get("/w/v.wsgi").text == "one"
        time.sleep(0.05)
        write("two")
        future = time.time() + 2
        os.utime(script, (future, future))
        assert server.get("/w/v.wsgi").text == "two"
