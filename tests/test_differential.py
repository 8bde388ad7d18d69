"""One real third-party WSGI app (httpbin, from PyPI), served through mod_subinterp and through
gunicorn, compared request by request: status, reason, header names and normalised bodies.
Differences that are Apache's or the app's, not ours, are listed in IGNORED_HEADERS and
docs/wsgi.md ("Compared with gunicorn")."""
import json
import os
import socket
import subprocess

import pytest
import requests

from harness import APPS, ROOT, eventually, free_port, running

VENV = os.path.join(ROOT, ".venv")
CONFIG = """
SubinterpPool httpbin gil=shared interpreters=1 virtualenv=%s
SubinterpScriptAlias / {apps}/httpbin_app.py pool=httpbin
# As with mod_wsgi, Authorization reaches apps only when asked for (gunicorn always passes it).
SubinterpPassAuthorization On
<Directory "{apps}">
    Require all granted
</Directory>
""" % VENV

# Connection management and framing are each server's own; Apache adds its Server and Date,
# and gunicorn its own Server.
IGNORED_HEADERS = {"date", "server", "connection", "keep-alive", "transfer-encoding",
                   "content-length"}
# Apache's HTTP output filter removes Content-Type from a 204 (RFC 9110 gives it no body to
# describe); gunicorn sends what the app set.  Apache's, not ours: docs/wsgi.md.
APACHE_DROPS = {"/status/204": "content-type"}

REQUESTS = [
    ("GET", "/get?x=1&y=2", {}, None),
    ("GET", "/headers", {"X-Custom": "abc"}, None),
    ("GET", "/ip", {}, None),
    ("GET", "/user-agent", {"User-Agent": "differential/1"}, None),
    ("GET", "/status/418", {}, None),
    ("GET", "/status/204", {}, None),
    ("GET", "/status/304", {}, None),
    ("GET", "/status/201", {}, None),
    ("GET", "/status/500", {}, None),
    ("GET", "/status/404", {}, None),
    ("GET", "/redirect/2", {}, None),
    ("GET", "/relative-redirect/1", {}, None),
    ("GET", "/redirect-to?url=/get&status_code=307", {}, None),
    ("GET", "/cookies", {"Cookie": "a=1; b=2"}, None),
    ("GET", "/cookies/set?k=v", {}, None),
    ("GET", "/cookies/delete?k", {}, None),
    ("GET", "/basic-auth/user/pass", {"Authorization": "Basic dXNlcjpwYXNz"}, None),
    ("GET", "/basic-auth/user/pass", {}, None),
    ("GET", "/bearer", {"Authorization": "Bearer token"}, None),
    ("GET", "/bearer", {}, None),
    ("GET", "/gzip", {}, None),
    ("GET", "/deflate", {}, None),
    ("GET", "/brotli", {}, None),
    ("GET", "/encoding/utf8", {}, None),
    ("GET", "/html", {}, None),
    ("GET", "/json", {}, None),
    ("GET", "/xml", {}, None),
    ("GET", "/robots.txt", {}, None),
    ("GET", "/deny", {}, None),
    ("GET", "/base64/SFRUUEJJTiBpcyBhd2Vzb21l", {}, None),
    ("GET", "/response-headers?X-A=1&X-B=two", {}, None),
    ("POST", "/post", {"Content-Type": "application/json"}, b'{"k": [1, 2]}'),
    ("POST", "/post", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=%C3%A9"),
    ("PUT", "/put", {"Content-Type": "text/plain"}, b"put body"),
    ("PATCH", "/patch", {"Content-Type": "text/plain"}, b"patch body"),
    ("DELETE", "/delete", {}, None),
    ("POST", "/anything/sub/path?q=1", {"Content-Type": "application/octet-stream"},
     bytes(range(256))),
    ("GET", "/etag/abc", {"If-None-Match": '"abc"'}, None),
    ("GET", "/etag/abc", {}, None),
    ("GET", "/cache", {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, None),
    ("GET", "/cache/60", {}, None),
    ("GET", "/range/64", {"Range": "bytes=10-19"}, None),
    ("GET", "/stream/3", {}, None),
    ("GET", "/links/3/1", {}, None),
    ("GET", "/image/png", {}, None),
    ("GET", "/delay/0", {}, None),
    ("GET", "/bytes/64?seed=7", {}, None),
    ("HEAD", "/get", {}, None),
    ("OPTIONS", "/get", {}, None),
    ("GET", "/nonexistent", {}, None),
]


def normalise(body, ports):
    """JSON bodies with what names the server itself (host, port, origin) blanked."""
    text = body.decode("utf-8", "replace")
    for port in ports:
        text = text.replace("127.0.0.1:%d" % port, "SERVER")
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        data.pop("origin", None)
        headers = data.get("headers")
        if isinstance(headers, dict):
            for name in ("Host", "Connection", "Content-Length"):
                headers.pop(name, None)
    return data


@pytest.fixture(scope="module")
def gunicorn_url():
    port = free_port()
    proc = subprocess.Popen([os.path.join(VENV, "bin", "gunicorn"), "-b", "127.0.0.1:%d" % port,
                             "-w", "1", "--chdir", APPS, "httpbin_app:application"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    assert eventually(listening, True, timeout=30), "gunicorn did not start"
    yield "http://127.0.0.1:%d" % port
    proc.terminate()
    proc.wait(10)


def fetch(base, method, path, headers, body):
    r = requests.request(method, base + path, headers=headers, data=body,
                         allow_redirects=False, timeout=30)
    names = sorted(h.lower() for h in r.headers if h.lower() not in IGNORED_HEADERS)
    return r.status_code, r.reason, names, r.content


def test_httpbin_answers_as_under_gunicorn(scratch, gunicorn_url):
    with running(scratch, CONFIG) as server:
        ours_base = server.url("")
        ports = (server.port, int(gunicorn_url.rsplit(":", 1)[1]))
        differences = []
        for method, path, headers, body in REQUESTS:
            ours = fetch(ours_base, method, path, headers, body)
            theirs = fetch(gunicorn_url, method, path, headers, body)
            if path in APACHE_DROPS:
                assert APACHE_DROPS[path] not in ours[2]
                theirs = theirs[:2] + ([h for h in theirs[2] if h != APACHE_DROPS[path]],) \
                    + theirs[3:]
            for what, a, b in (("status", ours[0], theirs[0]), ("reason", ours[1], theirs[1]),
                               ("header names", ours[2], theirs[2]),
                               ("body", normalise(ours[3], ports),
                                normalise(theirs[3], ports))):
                if a != b:
                    differences.append("%s %s: %s: ours %r, gunicorn %r"
                                       % (method, path, what, a, b))
        assert not differences, "\n".join(differences)
