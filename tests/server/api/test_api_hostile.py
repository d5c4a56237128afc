"""Hostile input over real HTTP: caps counted as bytes arrive (a lying Content-Length does
not help), content sniffed from the bytes, nesting bombs, JSON that is not what it claims,
registry events for hosts the service does not pull from, per-token rate limits, slow bodies
and request deadlines. Each is one line of JSON with a 4xx/5xx, and nothing is stored."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hullcheck import deadline
from hullcheck.fleet import schema
from hullcheck.server.api import Api, ApiSettings
from hullcheck.server.api_http import ApiError
from hullcheck.server.api_serve import ServeLimits
from tests.fixtures.registry import RunningRegistry
from tests.server.api.support import Running, running

CAP = 64 << 10
SMALL = ApiSettings(max_upload=CAP, max_envelope=16 << 10, max_body=8 << 10,
                    max_deployments=CAP, body_timeout=1.0)
CDX = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
       "components": [{"type": "library", "name": "six", "version": "1.16.0",
                       "purl": "pkg:pypi/six@1.16.0"}]}


@pytest.fixture
def small(tmp_path: Path, registry: RunningRegistry) -> Iterator[Running]:
    with running(tmp_path / "data", database_url=None, registry=registry.host,
                 settings=SMALL) as r:
        yield r


def raw(api: Running, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send bytes as written (no client fixes the headers up); the status and JSON body."""
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as c:
        c.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def stored(api: Running) -> tuple[int, int, int]:
    """(images, jobs, audit entries) in the store: what a refused request must not add."""
    with api.service.store.read() as conn:
        return tuple(int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                     for t in (schema.images, schema.jobs, schema.audit_log))  # type: ignore[return-value]


def chunked(data: bytes, size: int = 4096) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
                   for i in range(0, len(data), size))
    return out + b"0\r\n\r\n"


def test_an_upload_past_the_cap_is_refused_whatever_content_length_says(small: Running) -> None:
    before = stored(small)
    auth = f"Authorization: Bearer {small.tokens['write']}"
    big = json.dumps({**CDX, "padding": "x" * (4 * CAP)}).encode()
    # Content-Length says 100 bytes; the chunked body (which HTTP says wins) is 4x the cap.
    status, answer = raw(small, f"POST /api/v1/sboms?name=evil&version=1 HTTP/1.1\nHost: x\n"
                                f"{auth}\nContent-Length: 100\nTransfer-Encoding: chunked\n",
                         chunked(big))
    assert status == 413
    assert answer == {"error": f"SBOM: more than the limit of {CAP:,} bytes; refused"}
    # No Content-Length at all: counted the same way.
    status, answer = raw(small, f"POST /api/v1/uploads?name=evil HTTP/1.1\nHost: x\n{auth}\n"
                                "Transfer-Encoding: chunked\n", chunked(big))
    assert status == 413 and "more than the limit" in answer["error"]
    # A declared size over the cap is refused before a byte of the body is sent.
    status, answer = raw(small, f"POST /api/v1/sboms?name=evil&version=1 HTTP/1.1\nHost: x\n"
                                f"{auth}\nContent-Length: {100 * CAP}\n")
    assert status == 413
    assert answer == {"error": f"SBOM: {100 * CAP:,} bytes declared, more than the limit "
                               f"of {CAP:,}"}
    assert stored(small) == before
    assert small.get("/images", repository="evil").json()["images"] == []


def test_a_body_that_stops_arriving_is_cut_off(small: Running) -> None:
    auth = f"Authorization: Bearer {small.tokens['write']}"
    status, answer = raw(small, f"POST /api/v1/sboms?name=slow&version=1 HTTP/1.1\nHost: x\n"
                                f"{auth}\nContent-Length: 1000\n", b'{"bomFormat": ')
    assert status == 408
    assert answer == {"error": "SBOM: the body did not arrive within 1s"}


def one_answer(c: socket.socket) -> bytes:
    """One whole HTTP answer (head and Content-Length body) from the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += c.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += c.recv(65536)
    return data


def test_a_request_head_that_never_ends_is_cut_off(tmp_path: Path) -> None:
    """slowloris: uvicorn alone would keep a half-sent head open for ever."""
    with running(tmp_path / "data", database_url=None, registry=None,
                 limits=ServeLimits(head_timeout=0.5)) as api:
        request = (b"GET /api/v1/images?repository=a HTTP/1.1\r\nHost: x\r\n"
                   b"Authorization: Bearer " + api.tokens["read"].encode() + b"\r\n\r\n")
        with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as c:
            c.sendall(request[:40])  # and nothing more
            assert c.recv(1024) == b""  # closed by the server, without an answer
        with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as c:
            for _ in range(2):  # whole heads in time: answered, and the connection kept
                c.sendall(request)
                assert one_answer(c).startswith(b"HTTP/1.1 200 ")
            c.sendall(request[:40])  # the next request's head stalls: cut off too
            assert c.recv(1024) == b""


@pytest.mark.parametrize(("body", "headers", "status", "message"), [
    (b'<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>',
     {"Content-Type": "application/vnd.cyclonedx+json"}, 415, "SBOM: an XML document; send JSON"),
    (gzip.compress(json.dumps(CDX).encode()), {"Content-Type": "application/json"}, 415,
     "SBOM: gzip-compressed data; send the JSON document itself"),
    (json.dumps(CDX).encode(), {"Content-Encoding": "gzip"}, 415,
     "SBOM: Content-Encoding 'gzip' is not accepted; send the document uncompressed"),
    (b"\x00\x01binary", {"Content-Type": "application/json"}, 415, "SBOM: not a JSON document"),
    (b"   ", {"Content-Type": "application/json"}, 400, "SBOM: the body is empty"),
])
def test_content_is_sniffed_not_taken_from_the_headers(small: Running, body: bytes,
                                                       headers: dict, status: int,
                                                       message: str) -> None:
    before = stored(small)
    r = small.post("/sboms", content=body, headers=headers,
                   params={"name": "sniffed", "version": "1"})
    assert r.status_code == status and r.json()["error"] == message
    assert stored(small) == before


def test_a_json_sbom_is_taken_whatever_content_type_claims(small: Running) -> None:
    r = small.post("/sboms", content=json.dumps(CDX).encode(),
                   headers={"Content-Type": "text/plain"}, params={"name": "app", "version": "7"})
    assert r.status_code == 201, r.text
    image = small.get(f"/images/{r.json()['digest']}").json()
    assert (image["repository"], image["tags"], image["status"]) == ("app", ["7"], "scanned")


BOMB = b"[" * 3000 + b"]" * 3000  # under every cap, 23x deeper than the parsers allow


@pytest.mark.parametrize(("path", "params", "body", "status", "message"), [
    ("/registry/events", {}, b'{"events": ' + BOMB + b"}", 400,
     "registry event envelope: nested more than 128 levels deep"),
    ("/images", {}, b'{"reference": ' + BOMB + b"}", 400,
     "scan request: nested more than 128 levels deep"),
    ("/sboms", {"name": "bomb", "version": "1"},
     b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": ' + BOMB + b"}", 422,
     "nested more than 128 levels deep"),
    ("/deployments", {"cluster": "c"}, b'{"items": ' + BOMB + b"}", 422,
     "deployments: nested more than 128 levels deep"),
    ("/sboms", {"name": "liar", "version": "1"},
     json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": "all of them"}
                ).encode(), 422, "components: expected an array"),
    ("/sboms", {"name": "liar", "version": "1"},
     json.dumps({"spdxVersion": "SPDX-2.3", "packages": {"name": 7}}).encode(), 422,
     "packages: expected an array"),
    ("/sboms", {"name": "liar", "version": "1"}, b'{"just": "json"}', 422,
     "not a CycloneDX, SPDX or hullcheck SBOM"),
    ("/uploads", {"name": "registry.example.org/a:1"}, json.dumps(CDX).encode(), 422,
     "upload: not a hullcheck native SBOM"),
    ("/sboms", {"name": "liar", "version": "1"}, b'{"bomFormat": "CycloneDX", "x": "\xff\xfe"}',
     422, "not UTF-8"),
])
def test_hostile_json_is_refused_in_one_line_and_nothing_is_stored(
        small: Running, path: str, params: dict, body: bytes, status: int, message: str) -> None:
    before = stored(small)
    r = small.post(path, content=body, params=params)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert message in error and "\n" not in error and len(error) <= 400
    assert stored(small) == before


def test_registry_events_for_hosts_not_configured_are_refused_whole(
        small: Running, registry: RunningRegistry) -> None:
    def event(host: str, digest: str) -> dict:
        return {"id": digest[-6:], "action": "push", "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 100,
            "digest": digest, "repository": "app", "tag": "1",
            "url": f"http://{host}/v2/app/manifests/{digest}"}, "request": {"host": host}}

    before = stored(small)
    for hosts in (["169.254.169.254"], [registry.host, "internal.example:5000"]):
        envelope = {"events": [event(h, "sha256:" + f"{i}" * 64) for i, h in enumerate(hosts)]}
        r = small.post("/registry/events", body=envelope)
        assert r.status_code == 400, r.text
        assert (f"registry {hosts[-1]} is not in the service's registries; nothing was "
                "queued") in r.json()["error"]
    # A scan request for such a host is refused the same way (no SSRF through the service).
    r = small.post("/images", body={"reference": "169.254.169.254/latest/meta-data:x"})
    assert r.status_code == 400 and "is not in the service's registries" in r.json()["error"]
    assert stored(small) == before
    # The configured registry's event is taken: one job, one pending image.
    r = small.post("/registry/events", body={"events": [event(registry.host, "sha256:" + "a" * 64)]})
    assert r.status_code == 202 and len(check_jobs(r.json())) == 1
    assert stored(small)[:2] == (before[0] + 1, before[1] + 1)


def check_jobs(answer: dict) -> list[dict]:
    assert all(j["url"] == f"/api/v1/jobs/{j['id']}" and j["status"] == "queued"
               for j in answer["jobs"])
    return list(answer["jobs"])


def test_intake_is_rate_limited_per_token(tmp_path: Path, registry: RunningRegistry) -> None:
    with running(tmp_path / "data", database_url=None, registry=registry.host,
                 settings=ApiSettings(intake_rate="3/minute")) as api:
        for _ in range(3):  # refused or not, each intake call counts
            assert api.post("/registry/events", body={"events": []}).status_code == 202
        r = api.post("/registry/events", body={"events": []})
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.json()["error"].startswith("token 'write-token' is over its intake rate of "
                                            "3/minute; try again in ")
        assert api.post("/sboms", content=json.dumps(CDX).encode(),
                        params={"name": "a", "version": "1"}).status_code == 429
        # Another token has its own budget; reads are not intake.
        assert api.post("/registry/events", scope="admin", body={"events": []}).status_code == 202
        assert api.get("/images", repository="a").status_code == 200


@pytest.mark.parametrize("rate", ["0/minute", "lots", "-1/second"])
def test_a_rate_that_is_not_one_is_a_usage_error(rate: str) -> None:
    from hullcheck.errors import UsageError
    from hullcheck.server.api_auth import RateLimiter

    with pytest.raises(UsageError, match=r"is not a rate; write e\.g\. 60/minute"):
        RateLimiter(rate)


def test_malformed_requests_are_one_line(small: Running) -> None:
    for path, params, body, message in (
        ("/images", {}, b"{not json", "scan request: not valid JSON (Expecting property name "
                                      "enclosed in double quotes: line 1 column 2 (char 1))"),
        ("/images", {}, b'["a"]', "scan request: expected an object at the top level"),
        ("/images", {}, b'{"reference": 5}', "scan request: 'reference' must be a string"),
        ("/images", {}, b'{"ref": "x"}', "scan request: unknown field 'ref'; fields are "
                                         "reference"),
        ("/sboms", {"name": "a"}, json.dumps(CDX).encode(),
         "query parameter 'version' is required"),
        ("/uploads", {}, b"{}", "query parameter 'name' is required"),
    ):
        r = small.post(path, content=body, params=params)
        assert r.status_code == 400 and r.json() == {"error": message}, (path, r.text)
    for path, message in (
        ("/images/sha256:..%2F..%2Fetc", "no such endpoint: /api/v1/images/sha256:../../etc"),
        ("/images/sha256:..", "digest 'sha256:..' is not sha256:<64 hex digits>"),
        ("/images/md5:abc", "digest 'md5:abc' is not sha256:<64 hex digits>"),
        ("/jobs/12345", "no job 12345"),
        (f"/images/sha256:{'e' * 64}", f"no image sha256:{'e' * 64} is known"),
    ):
        r = small.get(path)
        assert r.status_code in (400, 404) and r.json() == {"error": message}, (path, r.text)
    r = small.get("/images", repository="a", limit="many")
    assert r.status_code == 400
    r = small.request("GET", "/images", params=[("repository", "a"), ("repository", "b")])
    assert r.json() == {"error": "query parameter 'repository' is given 2 times"}


def test_the_work_of_a_request_runs_under_its_deadline(small: Running) -> None:
    """The worker thread sees the request's deadline (every network wait honours it), and
    the answer does not wait for work that overruns it."""
    release = threading.Event()
    seen: list[float | None] = []

    def slow() -> None:
        seen.append(deadline.remaining())
        release.wait()

    tight = Api(small.service, ApiSettings(request_timeout=0.2))
    try:
        with pytest.raises(ApiError) as caught:
            asyncio.run(tight.run("GET /api/v1/slow", slow))
    finally:
        release.set()
    assert caught.value.status == 504
    assert caught.value.message == "GET /api/v1/slow: not done within 0.2s; it may still complete"
    assert seen and seen[0] is not None and 0 < seen[0] <= 0.2

    def late() -> None:  # work that checks the deadline after it passed, as a registry read does
        threading.Event().wait(0.01)
        deadline.check("asking a registry")

    overrun = Api(small.service, ApiSettings(request_timeout=0.001))
    with pytest.raises(ApiError) as caught:
        asyncio.run(overrun.run("GET /api/v1/late", late))
    assert caught.value.status == 504
    assert caught.value.message == ("GET /api/v1/late: gave up after 0.001s while asking a "
                                    "registry")
    assert caught.value.hint == "the service gives each request 0.001s; try again later"
