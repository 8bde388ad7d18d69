"""HTTPS (mod_ssl): what a request that arrived over TLS tells the app (wsgi.url_scheme, HTTPS,
the port, and mod_ssl's variables under SSLOptions +StdEnvVars), the same from an in-child pool
and from a process pool, whose environ the child works out and sends over the wire (si_cgi.c);
and bodies both ways through TLS and a process pool."""
import hashlib
import os
import shutil
import subprocess

import pytest
import requests

from conftest import scratch_dir
from harness import GRANT_APPS as DIRECTORY, free_port, running
from httpd_conf import BASE_MODULES, MODULE_DIR

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, "mod_ssl.so"))
                       or not shutil.which("openssl"), reason="needs mod_ssl and openssl"),
    # What is tested is what the app is told, not the certificate (a throwaway one).
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

# Per connection, not per app: they differ between any two requests.
PER_CONNECTION = ("REMOTE_PORT", "SSL_SESSION_ID", "SSL_SESSION_RESUMED")


@pytest.fixture(scope="module")
def tls():
    root = scratch_dir("tls")
    cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    port = free_port()
    config = DIRECTORY + """
Listen 127.0.0.1:%(port)d https
<VirtualHost 127.0.0.1:%(port)d>
    ServerName 127.0.0.1
    SubinterpPool local interpreters=1
    SubinterpPool procs processes=1 threads=4
    SSLEngine on
    SSLCertificateFile %(cert)s
    SSLCertificateKeyFile %(key)s
    SSLOptions +StdEnvVars
    SubinterpScriptAlias /local {apps}/procinfo.py pool=local
    SubinterpScriptAlias /p {apps}/procinfo.py pool=procs
</VirtualHost>
""" % {"port": port, "cert": cert, "key": key}
    with running(root, config, modules=BASE_MODULES + ("socache_shmcb", "ssl")) as server:
        # verify=False per request: REQUESTS_CA_BUNDLE would override a session's setting.
        session = requests.Session()
        yield server, session, "https://127.0.0.1:%d" % port
        session.close()


def environ(tls, path):
    _, session, base = tls
    got = session.get(base + path, timeout=30, verify=False).json()
    for key in PER_CONNECTION:
        got.pop(key, None)
    return got


def test_the_app_sees_https_and_mod_ssls_variables(tls):
    env = environ(tls, "/local/environ")
    port = tls[2].rsplit(":", 1)[1]
    assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
    assert env["REQUEST_SCHEME"] == "https" and env["SERVER_PORT"] == port
    assert env["SSL_PROTOCOL"].startswith("TLSv1") and env["SSL_CIPHER"]


def test_a_process_pool_sees_what_an_in_child_pool_sees(tls):
    here, there = environ(tls, "/local/environ"), environ(tls, "/p/environ")
    for key in ("SCRIPT_NAME", "REQUEST_URI", "mod_subinterp.pool"):
        assert here.pop(key) != there.pop(key)
    assert there["SSL_PROTOCOL"].startswith("TLSv1") and there["wsgi.url_scheme"] == "https"
    assert there == here


def test_bodies_both_ways_through_tls_and_a_process_pool(tls):
    _, session, base = tls
    body = os.urandom(3 << 20)
    r = session.post(base + "/p/upload", data=body, timeout=60, verify=False)
    assert r.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    with session.get(base + "/p/download?8", stream=True, timeout=60, verify=False) as r:
        assert r.status_code == 200
        assert sum(len(piece) for piece in r.iter_content(1 << 16)) == 8 << 20
