"""PEP 3333 environ: CGI variables, SCRIPT_NAME/PATH_INFO at the mount, wsgi.* and ours."""
import pytest


class TestEnviron:
    CONFIG = """
SubinterpPool envpool interpreters=2
SubinterpScriptAlias /env {apps}/environ.py pool=envpool
SubinterpScriptAlias / {apps}/environ.py
<Directory "{apps}">
    Require all granted
</Directory>
<Location /env/auth>
    SubinterpPassAuthorization On
</Location>
SetEnv SI_TEST_VAR from-setenv
"""

    def test_cgi_variables(self, httpd):
        r = httpd.get("/env/some/path?a=1&b=%20", headers={"X-Custom-Header": "v1"})
        assert r.status_code == 200
        env = r.json()
        assert env["REQUEST_METHOD"] == "GET"
        assert env["SCRIPT_NAME"] == "/env"
        assert env["PATH_INFO"] == "/some/path"
        assert env["QUERY_STRING"] == "a=1&b=%20"
        assert env["REQUEST_URI"] == "/env/some/path?a=1&b=%20"
        assert env["SERVER_NAME"] == "127.0.0.1"
        assert env["SERVER_PORT"] == str(httpd.port)
        assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert int(env["REMOTE_PORT"]) > 0
        assert env["HTTP_X_CUSTOM_HEADER"] == "v1"
        assert env["HTTP_HOST"] == "127.0.0.1:%d" % httpd.port
        assert "CONTENT_LENGTH" not in env and "HTTP_CONTENT_LENGTH" not in env
        assert env["SCRIPT_FILENAME"].endswith("tests/apps/environ.py")
        assert env["SERVER_SOFTWARE"].startswith("Apache")
        assert "HTTPS" not in env

    def test_wsgi_keys(self, httpd):
        env = httpd.get("/env").json()
        assert env["wsgi.version"] == [1, 0]
        assert env["wsgi.url_scheme"] == "http"
        assert env["wsgi.input"] == "<Input>"
        assert env["wsgi.errors"] == "<Errors>"
        assert env["wsgi.multithread"] is True
        assert env["wsgi.multiprocess"] is True
        assert env["wsgi.run_once"] is False
        assert env["wsgi.input_terminated"] is True
        assert env["wsgi.file_wrapper"] == "<type>"

    def test_mod_subinterp_keys(self, httpd):
        env = httpd.get("/env").json()
        assert env["mod_subinterp.version"] == "0.1.0"
        assert env["mod_subinterp.pool"] == "envpool"
        assert env["mod_subinterp.interpreter"] in (0, 1)
        assert env["mod_subinterp.generation"] == 0
        assert httpd.get("/other").json()["mod_subinterp.pool"] == "/"

    @pytest.mark.parametrize("path,script,info", [
        ("/env", "/env", ""),
        ("/env/", "/env", "/"),
        ("/env/a/b/", "/env", "/a/b/"),
        ("/", "", "/"),
        ("/envelope", "", "/envelope"),   # a prefix that is not a path segment is not the mount
    ])
    def test_script_name_path_info_split(self, httpd, path, script, info):
        env = httpd.get(path).json()
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script, info)
        assert env["SCRIPT_NAME"] + env["PATH_INFO"] == path

    def test_content_type_and_length(self, httpd):
        env = httpd.post("/env", data=b"abc", headers={"Content-Type": "text/x-test"}).json()
        assert env["REQUEST_METHOD"] == "POST"
        assert env["CONTENT_TYPE"] == "text/x-test"
        assert env["CONTENT_LENGTH"] == "3"
        assert "HTTP_CONTENT_TYPE" not in env

    def test_subprocess_env(self, httpd):
        assert httpd.get("/env").json()["SI_TEST_VAR"] == "from-setenv"

    def test_path_info_is_latin1_bytes_as_str(self, httpd):
        env = httpd.get("/env/caf%C3%A9/%E2%98%83").json()
        assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/caf\u00e9/\u2603"

    def test_header_with_underscore_never_reaches_environ(self, httpd):
        env = httpd.get("/env", headers={"X_Forwarded_For": "6.6.6.6",
                                         "X-Real-Header": "ok"}).json()
        assert "HTTP_X_FORWARDED_FOR" not in env
        assert env["HTTP_X_REAL_HEADER"] == "ok"

    def test_authorization_hidden_unless_passed(self, httpd):
        headers = {"Authorization": "Basic dXNlcjpwYXNz"}
        assert "HTTP_AUTHORIZATION" not in httpd.get("/env", headers=headers).json()
        env = httpd.get("/env/auth", headers=headers).json()
        assert env["HTTP_AUTHORIZATION"] == "Basic dXNlcjpwYXNz"

    def test_repeated_header_is_joined(self, httpd):
        raw = httpd.raw(b"GET /env HTTP/1.1\r\nHost: x\r\nX-Dup: a\r\nX-Dup: b\r\n"
                        b"Connection: close\r\n\r\n")
        assert b'"HTTP_X_DUP": "a, b"' in raw
