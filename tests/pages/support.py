"""The pages' tests run the real service (API and pages, one app) on 127.0.0.1 with a real
advisory database built from real OSV records, and a small fleet: images built in code and
uploaded with ``hullcheck push`` (as CI would), one scanned from the real registry (secrets
in a deleted layer), deployments in two clusters."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hullcheck.cli.main import main
from hullcheck.fleet.model import Scope
from hullcheck.image.writer import ImageBuilder, whiteout
from hullcheck.monitor.config import parse_config
from hullcheck.monitor.service import Service
from hullcheck.server.api_serve import ApiServer
from hullcheck.server.pages import create_app
from tests.fixtures.images import write
from tests.secrets.fakes import aws_key_id, aws_secret
from tests.server.api.support import (
    ADVISORIES,
    URLLIB3_ADVISORY,
    config_text,
    drain,
    osv_sources,
    push_image,
    python_image,
)

REPO = "registry.example.org/shop"
# A made-up key of AWS's shape (not the documented example, which the scanner skips).
AWS_KEY = aws_key_id(13)
HOSTILE = '<script>alert("x")</script>'
ULTRALYTICS_ADVISORY = "PYSEC-2024-154"  # ultralytics 8.3.41-8.3.46 (high, fixed in 8.3.47)
MALICIOUS_ADVISORY = "MAL-2023-1"  # @hyperion-util/cookies 77.77.79 on npm
RECORDS = (URLLIB3_ADVISORY, ULTRALYTICS_ADVISORY)


def sources(root: Path, *records: str) -> Path:
    """The API tests' OSV source (PyPI records), plus OSV's malicious npm packages."""
    path = osv_sources(root, *records)
    path.write_text(path.read_text() + f"- {{name: osv-malicious, kind: osv, url: "
                    f"{ADVISORIES / 'osv' / 'malicious' / 'npm'}}}\n")
    return path


def npm_image(name: str, version: str, *, marker: str = "") -> Any:
    b = ImageBuilder()
    b.add_layer({"etc/os-release": 'ID=debian\nVERSION_ID="12"\n', "marker": marker},
                created_by="base")
    b.add_layer({f"app/node_modules/{name}/package.json":
                 f'{{"name": "{name}", "version": "{version}"}}'}, created_by="npm ci")
    return b.build()


@dataclass
class Site:
    """The running service, a token of each scope, and the fleet's digests."""

    service: Service
    server: ApiServer
    tokens: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> httpx.Client:
        """A browser-like client: keeps cookies, does not follow redirects."""
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=False)

    @contextmanager
    def signed_in(self, scope: str = "read") -> Iterator[httpx.Client]:
        with self.client() as client:
            assert login(client, self.tokens[scope]).status_code == 303
            yield client


def login(client: httpx.Client, token: str) -> httpx.Response:
    form = client.get("/login")
    nonce = re.search(r'name="login" value="([^"]+)"', form.text)
    assert nonce is not None
    return client.post("/login", data={"login": nonce.group(1), "token": token, "next": "/"},
                       headers={"Origin": str(client.base_url).rstrip("/")})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def post_form(client: httpx.Client, path: str, data: Mapping[str, str], *,
              page: str = "/") -> httpx.Response:
    """POST a form the way the browser does from ``page``: its CSRF token, our Origin."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf": token, **data},
                       headers={"Origin": str(client.base_url).rstrip("/")})


def secret_image() -> Any:
    """An image whose second layer writes a credentials file and whose third deletes it."""
    b = ImageBuilder(labels={"org.opencontainers.image.authors": HOSTILE})
    b.add_layer({"etc/os-release": 'ID=debian\nVERSION_ID="12"\n'}, created_by="base")
    b.add_layer({"root/.aws/credentials": f"[default]\naws_access_key_id = {AWS_KEY}\n"
                                          f"aws_secret_access_key = {aws_secret(13)}\n"},
                created_by="COPY credentials /root/.aws/")
    b.add_layer([whiteout("root/.aws/credentials")], created_by="RUN rm credentials")
    return b.build()


def push(site: Site, tmp: Path, name: str, image: Any, monkeypatch: Any) -> str:
    ref = write(image, tmp / name.replace("/", "_").replace(":", "_"))
    monkeypatch.setenv("HULLCHECK_TOKEN", site.tokens["write"])
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["push", ref, "--server", site.url, "--name", name, "-q"]) == 0
    return out.getvalue().strip()


@contextmanager
def running(tmp: Path, *, database_url: str | None = None, registry: str | None = None,
            extra_config: str = "", environ: Mapping[str, str] | None = None,
            records: tuple[str, ...] = RECORDS) -> Iterator[Site]:
    data_dir = tmp / "data"
    feed = sources(tmp / "sources", *records)
    config = parse_config(config_text(registry=registry, sources=feed, extra=extra_config),
                          name="monitor.yaml", base=tmp, environ=dict(environ or {}))
    with Service.open(data_dir=data_dir, database_url=database_url, config=config) as service:
        service.update_advisories(requested_by="test")
        drain(service)
        tokens = {s.value: service.create_token(f"{s.value}-token", s, actor="test")[1]
                  for s in Scope}
        server = ApiServer(create_app(service), host="127.0.0.1", port=0).start()
        try:
            yield Site(service=service, server=server, tokens=tokens)
        finally:
            server.shutdown()


def fill(site: Site, tmp: Path, monkeypatch: Any, *, registry: str | None = None) -> None:
    """web ships urllib3 1.24.1 (PYSEC-2019-133) visibly, worker only in a lower layer,
    other 1.26.0 (not affected); web runs in prod, worker in staging. With a registry, a
    fourth image is scanned from it: a secret in a layer a later one deleted."""
    d = site.digests
    d["web"] = push(site, tmp, f"{REPO}/web:1.0",
                    python_image({"urllib3": "1.24.1"}, marker="web"), monkeypatch)
    d["worker"] = push(site, tmp, f"{REPO}/worker:2.0", python_image(
        {"six": "1.16.0"}, hide={"urllib3": "1.24.1"}, marker="worker"), monkeypatch)
    d["other"] = push(site, tmp, f"{REPO}/other:3.0",
                      python_image({"urllib3": "1.26.0"}, marker="other"), monkeypatch)
    d["ml"] = push(site, tmp, "registry.example.org/lab/trainer:8",
                   python_image({"ultralytics": "8.3.41"}, marker="ml"), monkeypatch)
    d["node"] = push(site, tmp, "registry.example.org/lab/frontend:1",
                     npm_image("@hyperion-util/cookies", "77.77.79", marker="node"), monkeypatch)
    rows = [{"cluster": "prod", "namespace": "shop", "workload": "web", "container": "app",
             "digest": d["web"]},
            {"cluster": "staging", "namespace": "jobs", "workload": "worker",
             "container": "worker", "digest": d["worker"]}]
    site.service.ingest_deployments(__import__("json").dumps(rows).encode(),
                                    requested_by="test")
    if registry is not None:
        d["secret"] = push_image(registry, "shop/secret:1", secret_image())
        site.service.submit_scan(f"{registry}/shop/secret:1", requested_by="test")
        drain(site.service)
