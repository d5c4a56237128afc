"""Small real HTTP servers on 127.0.0.1 for behaviour no real registry shows: a function
answers each request, and every request is recorded (method, path, Authorization).

    with serve(lambda h: reply(h, 401, headers={"WWW-Authenticate": 'Basic realm="x"'})) as s:
        ...  # s.host, s.url, s.seen
"""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hullcheck.image.writer import BuiltImage

Handler = http.server.BaseHTTPRequestHandler
Respond = Callable[[Handler], None]


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class Server:
    host: str  # 127.0.0.1:PORT
    seen: list[Seen] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)  # set when the test ends

    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def authorizations(self) -> list[str]:
        return [s.authorization for s in self.seen if s.authorization is not None]


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a dripping handler must not hold the test's end

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up on these servers on purpose; say nothing (stderr is asserted on)."""


@contextlib.contextmanager
def serve(respond: Respond, *, tls: tuple[Path, Path] | None = None) -> Iterator[Server]:
    """Answer with ``respond`` on 127.0.0.1 (HTTPS with ``tls``: certificate and key files)."""
    state = Server(host="")

    class _Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            state.seen.append(Seen(self.command, self.path, self.headers.get("Authorization")))
            with contextlib.suppress(OSError):  # the client hung up (e.g. at its deadline)
                respond(self)

        do_GET = do_HEAD = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    state.host = f"127.0.0.1:{httpd.server_address[1]}"
    state.scheme = "https" if tls else "http"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()


def reply(h: Handler, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def drip(h: Handler, body: bytes, *, stop: threading.Event, every: float = 1.0,
         sent: threading.Event | None = None) -> None:
    """Answer 200 with ``body`` one byte every ``every`` seconds (until ``stop``); ``sent``
    is set once two bytes have gone out."""
    h.send_response(200)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.flush()
    for i in range(len(body)):
        h.wfile.write(body[i : i + 1])
        h.wfile.flush()
        if i == 1 and sent is not None:
            sent.set()
        if stop.wait(every):
            return


def serve_image(h: Handler, image: BuiltImage, *,
                slow: Callable[[Handler, bytes], None] | None = None) -> None:
    """A registry holding ``image`` under every name and tag; ``slow(h, blob)`` answers for
    its layers when given."""
    path = h.path.split("?", 1)[0]
    blobs = image.blobs()
    layers = {la.digest for la in image.layers}
    if path == "/v2/":
        reply(h, 200, b"{}")
    elif "/manifests/" in path:
        reply(h, 200, image.manifest, {"Content-Type": image.manifest_media_type,
                                       "Docker-Content-Digest": image.digest})
    elif "/blobs/" in path and path.rsplit("/", 1)[1] in blobs:
        digest = path.rsplit("/", 1)[1]
        if slow is not None and digest in layers:
            slow(h, blobs[digest])
        else:
            reply(h, 200, blobs[digest])
    else:
        reply(h, 404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such thing"}]}')
