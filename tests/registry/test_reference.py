"""Image references: Docker's normalisation, rejection of invalid names, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hullcheck.errors import ReferenceError_
from hullcheck.registry.reference import Reference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("debian:12", "docker.io", "library/debian", "12", None),
        ("debian", "docker.io", "library/debian", "latest", None),
        ("bitnami/redis", "docker.io", "bitnami/redis", "latest", None),
        ("docker.io/debian", "docker.io", "library/debian", "latest", None),
        ("index.docker.io/library/debian:bm", "docker.io", "library/debian", "bm", None),
        ("example.org:5000/team/app:1.2", "example.org:5000", "team/app", "1.2", None),
        (f"alpine@{DIGEST}", "docker.io", "library/alpine", None, DIGEST),
        (f"ghcr.io/o/r:v1@{DIGEST}", "ghcr.io", "o/r", "v1", DIGEST),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None),
        ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", None),
        ("[::1]:5000/x:y", "[::1]:5000", "x", "y", None),
        ("quay.io/a/b/c__d-e.f:T_1.x-y", "quay.io", "a/b/c__d-e.f", "T_1.x-y", None),
    ],
)
def test_docker_normalisation(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_canonical_string_and_hosts() -> None:
    ref = parse_reference("debian:12")
    assert str(ref) == "docker.io/library/debian:12"
    assert ref.api_host == "registry-1.docker.io"
    assert parse_reference("127.0.0.1:5000/x").api_host == "127.0.0.1:5000"
    pinned = ref.with_digest(DIGEST)
    assert str(pinned) == f"docker.io/library/debian:12@{DIGEST}"
    assert pinned.identifier == DIGEST
    retagged = pinned.with_tag("13")
    assert (retagged.tag, retagged.digest) == ("13", None)
    assert str(ref.repo()) == "docker.io/library/debian"


def test_bare_repository_when_asked() -> None:
    ref = parse_reference("127.0.0.1:5000/team/app", default_tag=False)
    assert (ref.tag, ref.digest) == (None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty image reference"),
        ("Debian:12", "must be lowercase"),
        ("example.org/Team/app", "must be lowercase"),
        ("app@sha256:abc", "invalid digest 'sha256:abc'"),
        ("app@md5:" + "a" * 32, "invalid digest"),
        ("app@", "empty digest"),
        ("app:", "empty tag"),
        ("a//b", "invalid repository name"),
        ("app:-bad", "invalid tag '-bad'"),
        ("app name", "white space"),
        ("example.org:5000/", "empty repository name"),
        ("-x.org/app", "invalid registry"),
        ("x/" + "a" * 300, "longer than 255"),
    ],
)
def test_invalid_references_rejected(text: str, message: str) -> None:
    with pytest.raises(ReferenceError_, match=message):
        parse_reference(text)


def test_constructed_references_are_validated() -> None:
    with pytest.raises(ReferenceError_, match="invalid tag"):
        Reference(registry="docker.io", repository="library/debian", tag="no spaces")


# Grammar pieces, per the distribution reference grammar.
_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_separator = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(
    lambda pairs, last: "".join(a + s for a, s in pairs) + last,
    st.lists(st.tuples(_alnum, _separator), max_size=2),
    _alnum,
)
_repository = st.lists(_component, min_size=1, max_size=3).map("/".join)
_domain_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_registry = st.one_of(
    st.just("docker.io"),
    st.just("localhost"),
    st.builds(lambda a, b: f"{a}.{b}", _domain_label, _domain_label),
    st.builds(lambda a, p: f"{a}.io:{p}", _domain_label, st.integers(1, 65535)),
    st.builds(lambda p: f"127.0.0.1:{p}", st.integers(1, 65535)),
)
_tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
_digest = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()),
    st.binary(min_size=64, max_size=64).map(lambda b: "sha512:" + b.hex()),
)


@given(
    registry=_registry,
    repository=_repository,
    tag=st.none() | _tag,
    digest=st.none() | _digest,
)
def test_string_then_parse_round_trips(
    registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    if registry == "docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    ref = Reference(registry=registry, repository=repository, tag=tag, digest=digest)
    parsed = parse_reference(str(ref))
    expected_tag = "latest" if tag is None and digest is None else tag
    assert parsed == Reference(registry=registry, repository=repository, tag=expected_tag, digest=digest)
    assert parse_reference(str(parsed)) == parsed
