"""Expect: 100-continue: the interim response goes out only when the app reads the body."""
import os
import socket
import subprocess

from harness import read_until_closed


class TestExpectContinue:
    """Expect: 100-continue is answered only when the app first reads wsgi.input."""
    CONFIG = """
SubinterpScriptAlias /echo {apps}/echo.py
SubinterpScriptAlias /hello {apps}/hello.py
""" + "\n<Directory \"{apps}\">\n    Require all granted\n</Directory>\n"

    def exchange(self, httpd, path, close=True):
        """Sends the headers, waits for what comes back before any body byte is sent."""
        with socket.create_connection(("127.0.0.1", httpd.port), timeout=10) as s:
            s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n%s\r\n"
                       % (path, "Connection: close\r\n" if close else "")).encode())
            first = s.recv(65536)
            if first.startswith(b"HTTP/1.1 100 Continue"):
                s.sendall(b"hello")
            return first, read_until_closed(s)

    def test_sent_when_the_app_reads(self, httpd):
        first, rest = self.exchange(httpd, "/echo")
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        whole = first + rest
        assert b"HTTP/1.1 200 OK" in whole
        assert b'"length": 5' in whole or b'"hello"' in whole or b"hello" in whole

    def test_not_sent_when_the_app_does_not_read(self, httpd):
        first, rest = self.exchange(httpd, "/hello")
        assert first.startswith(b"HTTP/1.1 200 OK"), first
        assert b"100 Continue" not in first + rest
        assert (first + rest).endswith(b"Hello, world!\n")

    def test_unread_body_closes_a_keep_alive_connection(self, httpd):
        """The client never sends the body it was not asked for, so Apache must not wait for it
        (the exchange would hang until Timeout) nor read it as the next request."""
        first, rest = self.exchange(httpd, "/hello", close=False)
        assert b"Connection: close" in first + rest
        assert (first + rest).endswith(b"Hello, world!\n")

    def test_with_curl(self, httpd, scratch):
        body = os.path.join(scratch, "body.bin")
        with open(body, "wb") as f:
            f.write(b"x" * 4096)
        for path, wants_continue in (("/echo", True), ("/hello", False)):
            p = subprocess.run(["curl", "-sv", "--expect100-timeout", "10", "-H",
                                "Expect: 100-continue", "--data-binary", "@" + body,
                                httpd.url(path)], capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, p.stderr
            assert ("< HTTP/1.1 100 Continue" in p.stderr) == wants_continue, p.stderr
            assert "< HTTP/1.1 200 OK" in p.stderr
