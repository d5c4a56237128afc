"""Helpers for the API's tests: a real service (SQLite or PostgreSQL) with a real advisory
database built from real OSV records, served by uvicorn on 127.0.0.1, and tokens of each
scope; real images built in code and pushed to the real registry fixture."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hullcheck.fleet.model import Scope
from hullcheck.image.writer import BuiltImage, Entry, ImageBuilder, push, whiteout
from hullcheck.monitor.config import parse_config
from hullcheck.monitor.service import Service
from hullcheck.registry import RegistryClient, parse_reference
from hullcheck.server.api import ApiSettings, create_app
from hullcheck.server.api_serve import ApiServer, ServeLimits

ADVISORIES = Path(__file__).resolve().parents[2] / "fixtures" / "advisories"
SITE = "usr/lib/python3/dist-packages"
URLLIB3_ADVISORY = "PYSEC-2019-133"  # urllib3 < 1.24.2; alias CVE-2019-11324
URLLIB3_CVE = "CVE-2019-11324"
URLLIB3_PURL = "pkg:pypi/urllib3@1.24.1"


def osv_sources(root: Path, *record_ids: str) -> Path:
    """A ``db update --sources`` file naming a local OSV directory with these real records."""
    folder = root / "osv"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for record_id in record_ids:
        shutil.copy(ADVISORIES / "osv" / "pypa" / f"{record_id}.json", folder)
    sources = root / "sources.yaml"
    sources.write_text(f"- {{name: osv-pypa, kind: osv, url: {folder}}}\n")
    return sources


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n"


def dist_info(name: str, version: str) -> dict[str, str]:
    return {f"{SITE}/{name}-{version}.dist-info/METADATA": metadata(name, version)}


def python_image(packages: Mapping[str, str], *, hide: Mapping[str, str] | None = None,
                 marker: str = "") -> BuiltImage:
    """Debian 12 with these Python distributions; ``hide``: installed in a lower layer and
    deleted by the top one (shipped, not visible)."""
    b = ImageBuilder(labels={"org.opencontainers.image.authors": "team-api@example.org"})
    b.add_layer({"etc/os-release": 'ID=debian\nVERSION_ID="12"\n', "marker": marker},
                created_by="base")
    files: dict[str, str] = {}
    for n, v in {**packages, **(hide or {})}.items():
        files.update(dist_info(n, v))
    b.add_layer(files, created_by="pip install")
    if hide:
        gone: list[Entry] = [whiteout(f"{SITE}/{n}-{v}.dist-info") for n, v in hide.items()]
        b.add_layer(gone, created_by="pip uninstall")
    return b.build()


def push_image(host: str, name: str, image: BuiltImage) -> str:
    with RegistryClient() as client:
        return push(client, parse_reference(f"{host}/{name}"), image)


def drain(service: Service, rounds: int = 30) -> int:
    """Run due jobs until a round runs none (jobs queue jobs); the number run."""
    total = 0
    for _ in range(rounds):
        ran = service.run_pending()
        total += ran
        if ran == 0:
            return total
    raise AssertionError("jobs keep queuing jobs")


@dataclass
class Running:
    """A service and its API on 127.0.0.1, with a token of each scope."""

    service: Service
    server: ApiServer
    tokens: dict[str, str] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    @property
    def url(self) -> str:
        return self.server.url

    def auth(self, scope: str | None = "read", *, token: str | None = None) -> dict[str, str]:
        if token is None and scope is not None:
            token = self.tokens[scope]
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, *, scope: str | None = "read",
                token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**self.auth(scope, token=token), **kw.pop("headers", {})}
        return self.http.request(method, self.url + "/api/v1" + path, headers=headers, **kw)

    def get(self, path: str, scope: str = "read", **params: Any) -> httpx.Response:
        return self.request("GET", path, scope=scope, params=params)

    def post(self, path: str, scope: str = "write", *, body: Any = None,
             content: bytes | None = None, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None) -> httpx.Response:
        data = content if content is not None else (json.dumps(body).encode()
                                                    if body is not None else b"")
        return self.request("POST", path, scope=scope, content=data, params=dict(params or {}),
                            headers=dict(headers or {"Content-Type": "application/json"}))


def config_text(*, registry: str | None, sources: Path, extra: str = "") -> str:
    registries = f"registries:\n  - host: {registry}\n" if registry else ""
    return f"{registries}advisories:\n  sources: {sources}\n{extra}"


@contextmanager
def running(data_dir: Path, *, database_url: str | None, registry: str | None,
            settings: ApiSettings | None = None, extra_config: str = "",
            records: tuple[str, ...] = (URLLIB3_ADVISORY,), port: int = 0,
            environ: Mapping[str, str] | None = None,
            limits: ServeLimits | None = None) -> Iterator[Running]:
    """A service with an advisory database built from ``records`` (by a real advisory update
    job), served on a free port; closed afterwards."""
    sources = osv_sources(data_dir.parent / f"{data_dir.name}-sources", *records)
    config = parse_config(config_text(registry=registry, sources=sources, extra=extra_config),
                          name="monitor.yaml", base=data_dir.parent, environ=dict(environ or {}))
    with Service.open(data_dir=data_dir, database_url=database_url, config=config) as service:
        service.update_advisories(requested_by="test")
        drain(service)
        tokens = {s.value: service.create_token(f"{s.value}-token", s, actor="test")[1]
                  for s in Scope}
        server = ApiServer(create_app(service, settings=settings), host="127.0.0.1",
                           port=port, limits=limits).start()
        r = Running(service=service, server=server, tokens=tokens)
        try:
            yield r
        finally:
            r.http.close()
            server.shutdown()
