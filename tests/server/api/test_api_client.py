"""push and query against a hostile service (a real HTTP server on 127.0.0.1): redirects are
not followed (the token would go along), error text is escaped, garbage and wrong shapes
are one line, exit 2."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hullcheck.cli.main import main


@contextmanager
def hostile(status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(("status", "body", "headers", "message"), [
    (302, b"", {"Location": "http://attacker.example/steal"},
     "redirected GET /api/v1/search (HTTP 302); not followed"),
    (500, b'{"error": "boom \\u001b[31mred\\u001b]8;;http://x\\u0007"}', {},
     "refused GET /api/v1/search: HTTP 500: boom \\x1b[31mred\\x1b]8;;http://x\\x07"),
    (502, b"<html>\x1b[2J bad gateway</html>", {},
     "HTTP 502: <html>\\x1b[2J bad gateway</html>"),
    (200, b"not json", {}, "not valid JSON"),
    (200, b"[" * 500 + b"]" * 500, {}, "nested more than 128 levels deep"),
    (200, b'{"images": [{"digest": 5}]}', {}, "answered, but not in the API's shape"),
])
def test_query_against_a_hostile_service(monkeypatch, capsys, status: int, body: bytes,
                                         headers: dict, message: str) -> None:
    monkeypatch.setenv("HULLCHECK_TOKEN", "hc_secret_token_value")
    with hostile(status, body, headers) as (url, seen):
        code = main(["query", "--server", url, "--purl", "pkg:pypi/x", "-o", "table"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert "\x1b" not in err and "Traceback" not in err
    assert "hc_secret_token_value" not in err
    assert len(seen) == 1 and seen[0]["authorization"] == "Bearer hc_secret_token_value"
    assert seen[0]["accept-encoding"] == "identity"


def test_the_token_never_leaves_in_the_url(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HULLCHECK_TOKEN", "hc_x")
    assert main(["query", "--server", "http://user:pw@127.0.0.1:9", "--advisory", "X"]) == 2
    assert "put no credentials in the URL" in capsys.readouterr().err


def test_query_tables_escape_what_the_service_says(monkeypatch, capsys) -> None:
    answer = (b'{"images": [{"digest": "sha256:' + b"a" * 64 + b'", "repository": '
              b'"\\u001b[2Jevil[bold]x[/bold]", "tags": [], "deployments": [], "owners": []}]}')
    monkeypatch.setenv("HULLCHECK_TOKEN", "hc_x")
    with hostile(200, answer) as (url, _):
        assert main(["query", "--server", url, "--advisory", "X", "-o", "table"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2Jevil[bold]x[/bold]" in out
