"""Hostile and malformed registry answers, served by httpx.MockTransport (the normal path is
tested against the real registry in test_client_registry.py)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from hullcheck.digest import sha256_digest
from hullcheck.errors import (
    AuthError,
    DigestMismatch,
    ImageError,
    NotFound,
    RegistryError,
    UnsupportedMediaType,
)
from hullcheck.registry import media
from hullcheck.registry.auth import Credentials
from hullcheck.registry.client import RegistryClient, is_loopback
from hullcheck.registry.reference import parse_reference

REF = parse_reference("registry.example/team/app:1.0")
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": media.OCI_MANIFEST}).encode()
CREDS = Credentials(username="alice", password="pw")

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, **kwargs: object) -> RegistryClient:
    kwargs.setdefault("credentials", CREDS)
    return RegistryClient(http=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)  # type: ignore[arg-type]


def test_blob_with_wrong_bytes() -> None:
    good = b"the real config"
    digest = sha256_digest(good)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"a substituted one")

    with client_for(handler) as c:
        with pytest.raises(DigestMismatch, match=f"registry.example/team/app blob {digest}"):
            c.fetch_blob(REF, digest)
        with (
            pytest.raises(DigestMismatch, match="content hashes to"),
            c.open_blob(REF, digest) as reader,
        ):
            reader.read()


def test_truncated_blob() -> None:
    data = b"0123456789"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=data[:4])

    # A short Content-Length is refused before reading...
    with (
        client_for(handler) as c,
        pytest.raises(DigestMismatch, match=r"registry\.example serves 4 bytes, expected 10"),
    ):
        c.fetch_blob(REF, sha256_digest(data), size=len(data))

    def chunked(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([data[:4]]))

    # ...and a body that simply ends early is caught at end of stream.
    with client_for(chunked) as c, pytest.raises(DigestMismatch, match="truncated, 4 of 10"):
        c.fetch_blob(REF, sha256_digest(data), size=len(data))


def test_manifest_by_digest_with_wrong_bytes() -> None:
    pinned = REF.with_digest(sha256_digest(b"what we asked for"))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": media.OCI_MANIFEST})

    with client_for(handler) as c, pytest.raises(DigestMismatch, match="content hashes to"):
        c.get_manifest(pinned)


def test_manifest_whose_docker_content_digest_lies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=MANIFEST,
            headers={
                "Content-Type": media.OCI_MANIFEST,
                "Docker-Content-Digest": sha256_digest(b"something else"),
            },
        )

    with (
        client_for(handler) as c,
        pytest.raises(DigestMismatch, match=r"registry\.example says sha256:.* but the content hashes to"),
    ):
        c.get_manifest(REF)


def test_huge_manifest_streamed_without_length() -> None:
    def body() -> Iterator[bytes]:
        yield b'{"schemaVersion":2,"x":"'
        for _ in range(100):
            yield b"A" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(), headers={"Content-Type": media.OCI_MANIFEST})

    with client_for(handler) as c, pytest.raises(ImageError, match="over the 4194304-byte limit"):
        c.get_manifest(REF)


def test_huge_manifest_refused_by_its_content_length() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=b"{}",
            headers={"Content-Type": media.OCI_MANIFEST, "Content-Length": str(1 << 30)},
        )

    with client_for(handler) as c, pytest.raises(ImageError, match="is 1073741824 bytes"):
        c.get_manifest(REF)


def test_index_when_only_manifests_were_accepted() -> None:
    index = json.dumps({"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": []})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=index.encode(), headers={"Content-Type": media.OCI_INDEX})

    with client_for(handler) as c, pytest.raises(UnsupportedMediaType, match=r"image\.index"):
        c.get_manifest(REF, accept=(media.OCI_MANIFEST,))


def test_media_type_from_the_document_when_served_as_json() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": "application/json"})

    with client_for(handler) as c:
        assert c.get_manifest(REF).media_type == media.OCI_MANIFEST


def test_blob_is_streamed_not_buffered() -> None:
    produced: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(64):
            produced.append(i)
            yield bytes([i]) * 65536

    data = b"".join(bytes([i]) * 65536 for i in range(64))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    with client_for(handler) as c, c.open_blob(REF, sha256_digest(data)) as reader:
        first = reader.read(1000)
        assert first == b"\x00" * 1000
        assert len(produced) <= 2  # the body is pulled as it is read
        reader.finish()
        assert reader.bytes_read == len(data)


def test_bearer_flow_and_cross_origin_redirect_drops_authorization() -> None:
    seen: list[tuple[str, str | None]] = []
    blob = b"layer bytes"
    digest = sha256_digest(blob)

    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization")
        seen.append((f"{request.url.host}{request.url.path}", auth))
        if request.url.host == "auth.example":
            assert request.url.params.get_list("scope") == ["repository:team/app:pull"]
            assert request.url.params["service"] == "registry.example"
            assert auth == "Basic YWxpY2U6cHc="  # alice:pw
            return httpx.Response(200, json={"access_token": "T0KEN", "expires_in": 300})
        if request.url.host == "storage.example":
            return httpx.Response(200, content=blob)
        if auth != "Bearer T0KEN":
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://auth.example/token",'
                    'service="registry.example",scope="repository:team/app:pull"'
                },
            )
        if request.url.path.endswith(f"/blobs/{digest}"):
            return httpx.Response(307, headers={"Location": "https://storage.example/b?sig=1"})
        return httpx.Response(404)

    with client_for(handler) as c:
        assert c.fetch_blob(REF, digest) == blob
        assert c.fetch_blob(REF, digest) == blob
    assert seen == [
        (f"registry.example/v2/team/app/blobs/{digest}", None),
        ("auth.example/token", "Basic YWxpY2U6cHc="),
        (f"registry.example/v2/team/app/blobs/{digest}", "Bearer T0KEN"),
        ("storage.example/b", None),
        # The cached token is sent at once the second time.
        (f"registry.example/v2/team/app/blobs/{digest}", "Bearer T0KEN"),
        ("storage.example/b", None),
    ]


def test_401_after_a_token_is_an_auth_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"token": "useless"})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.example/token"'})

    with (
        client_for(handler) as c,
        pytest.raises(AuthError, match=r"registry.example refused access to .* as alice"),
    ):
        c.get_manifest(REF)


def test_token_server_without_a_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"nothing": "here"})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.example/token"'})

    with client_for(handler) as c, pytest.raises(AuthError, match="sent no token"):
        c.get_manifest(REF)


def test_credentials_never_go_to_a_plain_http_realm() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url.host))
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example/token"'})

    with client_for(handler) as c, pytest.raises(AuthError, match="over plain HTTP"):
        c.get_manifest(REF)
    assert asked == ["registry.example"]


def test_basic_challenge_without_credentials() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    with (
        client_for(handler, credentials=lambda host: None) as c,
        pytest.raises(AuthError, match=r"registry\.example requires a username and password"),
    ):
        c.list_tags(REF)


def test_server_error_names_status_code_and_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"errors": [{"code": "UNKNOWN", "message": "storage\nexploded"}]})

    with client_for(handler) as c, pytest.raises(RegistryError) as info:
        c.get_manifest(REF)
    # One line: the server's newline is folded.
    assert str(info.value) == (
        "registry.example answered HTTP 500 for manifest registry.example/team/app:1.0 "
        "(UNKNOWN: storage exploded)"
    )


def test_not_found_carries_the_registry_error_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404, json={"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}
        )

    with client_for(handler) as c, pytest.raises(NotFound, match="NAME_UNKNOWN"):
        c.list_tags(REF)


def test_connection_refused_is_a_registry_error_with_a_hint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    with (
        RegistryClient(credentials=lambda host: None) as c,
        pytest.raises(RegistryError, match=f"cannot reach 127.0.0.1:{port}") as info,
    ):
        c.get_manifest(parse_reference(f"127.0.0.1:{port}/x:1"))
    assert "--insecure" in info.value.hint


def test_redirect_loop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": str(request.url)})

    with client_for(handler) as c, pytest.raises(RegistryError, match="too many redirects"):
        c.get_manifest(REF)


def test_tag_pagination_follows_link_headers() -> None:
    pages = {
        None: (["a", "b"], '</v2/team/app/tags/list?last=b&n=2>; rel="next"'),
        "b": (["c", "d"], '</v2/team/app/tags/list?last=d&n=2>; rel="next"'),
        "d": (["e"], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("n") == "2"
        tags, link = pages[request.url.params.get("last")]
        headers = {"Link": link} if link else {}
        return httpx.Response(200, json={"name": "team/app", "tags": tags}, headers=headers)

    with client_for(handler) as c:
        assert c.list_tags(REF, page_size=2) == ("a", "b", "c", "d", "e")


def test_tag_pagination_loop_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"tags": ["a"]},
            headers={"Link": '</v2/team/app/tags/list?last=a>; rel="next"'},
        )

    with client_for(handler) as c, pytest.raises(RegistryError, match="pagination loop"):
        c.list_tags(REF)


def test_malformed_tag_list() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>login page</html>")

    with client_for(handler) as c, pytest.raises(RegistryError, match="not valid JSON"):
        c.list_tags(REF)


def _referrer(artifact_type: str, n: int) -> dict[str, object]:
    return {
        "mediaType": media.OCI_MANIFEST,
        "digest": sha256_digest(bytes([n])),
        "size": 100 + n,
        "artifactType": artifact_type,
    }


@pytest.mark.parametrize("server_filters", [True, False])
def test_referrers_api(server_filters: bool) -> None:
    subject = sha256_digest(b"subject")
    sbom, sig = "application/spdx+json", "application/vnd.dev.cosign.simplesigning.v1+json"

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v2/team/app/referrers/{subject}"
        wanted = request.url.params.get("artifactType")
        manifests = [_referrer(sbom, 1), _referrer(sig, 2)]
        headers = {}
        if server_filters and wanted:
            manifests = [m for m in manifests if m["artifactType"] == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        doc = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": manifests}
        return httpx.Response(200, json=doc, headers=headers)

    with client_for(handler) as c:
        assert [d.artifact_type for d in c.referrers(REF, subject)] == [sbom, sig]
        (only,) = c.referrers(REF, subject, artifact_type=sig)
        assert (only.artifact_type, only.size) == (sig, 102)


def test_referrers_with_a_malformed_descriptor() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        doc = {"manifests": [{"mediaType": media.OCI_MANIFEST, "digest": "sha256:nope", "size": 1}]}
        return httpx.Response(200, json=doc)

    with client_for(handler) as c, pytest.raises(RegistryError, match="invalid descriptor digest"):
        c.referrers(REF, sha256_digest(b"s"))


def test_push_of_bytes_that_do_not_match_their_digest_sends_nothing() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    with client_for(handler) as c, pytest.raises(DigestMismatch):
        c.push_blob(REF, b"actual", sha256_digest(b"claimed"), 6)
    assert sent == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.1", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry.example", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_hosts_use_plain_http(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json={"tags": []})

    with client_for(handler) as c:
        c.list_tags(f"{host}/x")
    with client_for(handler, insecure=True) as c:
        c.list_tags(f"{host}/x")
    scheme = "http" if loopback else "https"
    assert urls == [f"{scheme}://{host}/v2/x/tags/list", f"http://{host}/v2/x/tags/list"]


def test_push_referrer_leaves_the_tag_schema_alone_when_the_registry_indexes_subjects() -> None:
    subject = sha256_digest(b"subject")
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "subject": {"mediaType": media.OCI_MANIFEST, "digest": subject, "size": 7},
        }
    ).encode()
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.method} {request.url.path}")
        return httpx.Response(201, headers={"OCI-Subject": subject})

    with client_for(handler) as c:
        assert c.push_referrer(REF, artifact, media.OCI_MANIFEST) == sha256_digest(artifact)
    assert paths == [f"PUT /v2/team/app/manifests/{sha256_digest(artifact)}"]
