"""What the admission tests send and check: AdmissionReview bodies, Pods, posts over TLS,
the test policy, small images; and hostile registries (real HTTP servers on 127.0.0.1)."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from hullcheck.image.writer import ImageBuilder

STATUS = "var/lib/dpkg/status"
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
Tls = tuple[Path, Path, Path]  # (cert, key, CA bundle)

POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {{name: cluster}}
rules:
  - id: signed
    type: signatures
    keys: [{{path: {key}}}]
  - id: no-evil
    type: sbom
    required: true
    banned: [{{name: evilpkg, reason: test malware}}]
  - id: tagged
    type: cel
    expression: "!image.ref.endsWith(':latest')"
    action: warn
"""


def _stanza(name: str, version: str) -> str:
    return (f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
            f"Version: {version}\nMaintainer: x <x@example.org>\nDescription: {name}\n")


def debian_image(*packages: tuple[str, str], marker: str) -> Any:
    b = ImageBuilder(labels={"test": marker})
    b.add_layer({"etc/os-release": OS_RELEASE,
                 STATUS: "\n".join(_stanza(n, v) for n, v in packages)}, created_by="ADD rootfs")
    return b.build()


def review(obj: dict[str, Any] | None, kind: str = "Pod", uid: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": {"group": "" if kind == "Pod" else "apps", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": kind.lower() + "s"},
            "namespace": "shop",
            "name": "web",
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin"},
            "object": obj,
            "dryRun": False,
        },
    }


def pod(*images: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": im}
                                           for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"init{i}", "image": im} for i, im in enumerate(init)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": spec}


def client_context(tls: Tls) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls[2]))


def post(url: str, tls: Tls, body: dict[str, Any] | bytes) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url, content=data, headers={"Content-Type": "application/json"},
                      verify=client_context(tls), timeout=60.0)


def get(url: str, tls: Tls) -> httpx.Response:
    return httpx.get(url, verify=client_context(tls), timeout=60.0)


def answer(resp: httpx.Response, uid: str | None = None) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
    if uid is not None:
        assert doc["response"]["uid"] == uid
    response: dict[str, Any] = doc["response"]
    return response


def tls_socket(port: int, tls: Tls) -> ssl.SSLSocket:
    """A raw TLS connection to the webhook, for clients that misbehave on purpose."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=30.0)
    return client_context(tls).wrap_socket(raw, server_hostname="127.0.0.1")


# -- hostile registries ------------------------------------------------------------------------

FAKE_DIGEST = "sha256:" + "ab" * 32
Behaviour = Callable[[http.server.BaseHTTPRequestHandler, "HostileRegistry"], None]


class HostileRegistry:
    """A real HTTP server on 127.0.0.1 that answers every request with ``behaviour`` and
    records each request's method, path and Authorization header."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        self.stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                outer.requests.append((self.command, self.path, self.headers.get("Authorization")))
                with contextlib.suppress(OSError):  # the client hung up
                    behaviour(self, outer)

            do_GET = do_HEAD = do_POST = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def authorizations(self) -> list[str]:
        return [auth for _, _, auth in self.requests if auth]

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def hostile_registry(behaviour: Behaviour) -> Iterator[HostileRegistry]:
    registry = HostileRegistry(behaviour)
    try:
        yield registry
    finally:
        registry.close()


def answers(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Behaviour:
    def reply(h: http.server.BaseHTTPRequestHandler, _: HostileRegistry) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    return reply


BASIC_CHALLENGE = answers(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                          {"WWW-Authenticate": 'Basic realm="hostile"',
                           "Content-Type": "application/json"})
GARBAGE = answers(200, b"\x00\xffnot a manifest{{{",
                  {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                   "Docker-Content-Digest": "sha256:not-hex"})


def drips(*, every: float = 0.25, limit: float = 60.0) -> Behaviour:
    """A status line, then one header byte every ``every`` seconds: no read ever times out,
    the response never ends (until the registry is closed, or ``limit`` seconds)."""

    def reply(h: http.server.BaseHTTPRequestHandler, registry: HostileRegistry) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        h.wfile.flush()
        end = time.monotonic() + limit
        while not registry.stop.is_set() and time.monotonic() < end:
            h.wfile.write(b"a")
            h.wfile.flush()
            time.sleep(every)
        h.close_connection = True

    return reply


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
