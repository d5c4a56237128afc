"""The admission webhook over HTTPS: the standard library's threading HTTP server and ssl.

No web framework: one POST endpoint and a health check do not need one, and a webhook
in the API server's request path is better served by fewer moving parts. Requests are
bounded (size, read time); a body that is not an AdmissionReview gets HTTP 400.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from pathlib import Path
from typing import Any

from hullcheck.errors import UsageError
from hullcheck.server.admission import AdmissionController

MAX_BODY = 3 << 20  # the API server's own request limit is about 3 MiB
READ_TIMEOUT = 10.0


class AdmissionServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], controller: AdmissionController,
                 context: ssl.SSLContext) -> None:
        self.controller = controller
        super().__init__(address, _Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a failed TLS handshake or a dropped client: nothing to answer

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(http.server.BaseHTTPRequestHandler):
    server: AdmissionServer
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # the CLI configures logging
        pass

    def setup(self) -> None:
        super().setup()
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            conn.do_handshake()

    def _reply(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path in ("/healthz", "/readyz"):
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self.close_connection = True
            self._reply(411, {"error": "Content-Length required"})
            return
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._reply(413, {"error": f"request body over {MAX_BODY} bytes"})
            return
        try:
            body = self.rfile.read(int(length))
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        status, doc = self.server.controller.handle(body)
        self._reply(status, doc)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from None
    return context


def serve(controller: AdmissionController, *, host: str, port: int, cert: Path, key: Path
          ) -> AdmissionServer:
    """A started server (in a daemon thread); call ``shutdown()`` then ``server_close()``."""
    server = AdmissionServer((host, port), controller, tls_context(cert, key))
    threading.Thread(target=server.serve_forever, name="hullcheck-admission", daemon=True).start()
    return server
