"""The base catalog file, identity by longest diffID prefix, claims in annotations and labels,
trust file parsing and glob semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.base import catalog, identify, trust
from hullcheck.base.model import BaseIdentity, CatalogEntry, IdentifiedBy, TrustState
from hullcheck.errors import FormatError
from hullcheck.model import Distro


def d(n: int) -> str:
    return f"sha256:{n:064x}"


def entry(name: str, tag: str, digest: int, layers: tuple[int, ...],
          created: str = "2024-01-01") -> CatalogEntry:
    return CatalogEntry(name=name, tag=tag, digest=d(digest), manifest_digest=d(digest),
                        created=created, diff_ids=tuple(d(i) for i in layers),
                        distro=Distro(id="debian", version_id="12"))


ENTRIES = (
    entry("r.example/debian", "12", 100, (1,)),
    entry("r.example/python", "3.12", 200, (1, 2, 3)),
    entry("r.example/debian-ssl", "12", 300, (1, 2)),
    entry("r.example/other", "1", 400, (9, 1)),
)


def test_longest_prefix_wins() -> None:
    ident = identify.by_layers([d(1), d(2), d(3), d(4)], ENTRIES)
    assert (ident.by, ident.name, ident.layers) == (IdentifiedBy.LAYERS, "r.example/python", 3)
    ident = identify.by_layers([d(1), d(2), d(7)], ENTRIES)
    assert (ident.name, ident.layers) == ("r.example/debian-ssl", 2)


def test_a_prefix_must_start_at_the_first_layer() -> None:
    assert identify.by_layers([d(1), d(9), d(1)], ENTRIES[3:]).by is IdentifiedBy.NONE
    assert identify.by_layers([d(5)], ENTRIES).by is IdentifiedBy.NONE


def test_same_layers_under_two_tags_prefers_the_newest_and_lists_the_other() -> None:
    twins = (entry("r.example/debian", "12", 100, (1,), "2024-01-01"),
             entry("r.example/debian", "bookworm", 100, (1,), "2024-03-01"))
    ident = identify.by_layers([d(1), d(2)], twins)
    assert ident.tag == "bookworm"
    assert ident.also == (f"r.example/debian:12@{d(100)}",)


def test_annotations_win_over_labels_and_layers() -> None:
    manifest = {"annotations": {identify.BASE_NAME: "docker.io/library/debian:12",
                                identify.BASE_DIGEST: d(100)}}
    config = {"config": {"Labels": {identify.BASE_NAME: "other:1"}}}
    ident = identify.identify(manifest, config, [d(1), d(2)], ENTRIES)
    assert ident.by is IdentifiedBy.ANNOTATION
    assert (ident.name, ident.tag, ident.digest) == ("docker.io/library/debian", "12", d(100))
    # The catalog knows that digest: its layers are checked against the image's.
    assert ident.layers_match is True and ident.layers == 1


def test_labels_and_short_names() -> None:
    config = {"config": {"Labels": {identify.BASE_NAME: "alpine:3.19"}}}
    ident = identify.identify({}, config, [d(1)], ())
    assert (ident.by, ident.name, ident.tag, ident.digest) == (
        IdentifiedBy.LABEL, "docker.io/library/alpine", "3.19", "")
    assert ident.layers is None and ident.layers_match is None


def test_check_layers_of_a_claimed_base() -> None:
    claim = BaseIdentity(by=IdentifiedBy.ANNOTATION, name="x/y", tag="1", digest=d(5))
    assert identify.check_layers(claim, [d(1)], [d(1), d(2)]).layers == 1
    wrong = identify.check_layers(claim, [d(3)], [d(1), d(2)])
    assert wrong.layers_match is False and wrong.layers is None


# -- catalog file ---------------------------------------------------------------------------


def test_catalog_round_trip_and_merge(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "catalog.json"
    assert catalog.load(path) == ()
    catalog.save(path, catalog.merge((), ENTRIES[:2]))
    moved = entry("r.example/debian", "12", 101, (11,), "2024-02-01")
    catalog.save(path, catalog.merge(catalog.load(path), [moved, ENTRIES[0]]))
    loaded = catalog.load(path)
    # A tag that moved keeps its old digest: images built on it must still be identified.
    assert [e.digest for e in loaded if e.name == "r.example/debian"] == [d(100), d(101)]
    assert loaded[0].distro == Distro(id="debian", version_id="12")
    assert len(loaded) == 3


def test_catalog_path_precedence(tmp_path: Path) -> None:
    assert catalog.catalog_path(tmp_path / "x.json", env={}) == tmp_path / "x.json"
    env = {catalog.ENV_CATALOG: str(tmp_path / "env.json")}
    assert catalog.catalog_path(None, env=env) == tmp_path / "env.json"
    assert catalog.catalog_path(None, env={}).name == catalog.FILE_NAME


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not valid JSON"),
    ('{"bases": {}}', "no 'bases' list"),
    ('{"schemaVersion": 9, "bases": []}', "schema version 9"),
    ('{"schemaVersion": 1, "bases": [{"name": "x", "diffIds": []}]}', "non-empty list"),
    ('{"schemaVersion": 1, "bases": [{"name": "x", "diffIds": ["sha256:1"], "digest": "x"}]}',
     "invalid digest"),
])
def test_damaged_catalogs_are_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(content)
    with pytest.raises(FormatError, match=message):
        catalog.load(path)


# -- trust file -----------------------------------------------------------------------------


def _policy(tmp_path: Path, text: str) -> trust.TrustPolicy:
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    return trust.load(path)


def test_globs_stay_within_a_path_component_unless_doubled(tmp_path: Path) -> None:
    one = trust.TrustedSource(name="r.example/*")
    assert one.matches("r.example/debian") and not one.matches("r.example/team/debian")
    two = trust.TrustedSource(name="r.example/**")
    assert two.matches("r.example/team/debian")
    short = _policy(tmp_path, "sources:\n  - name: debian\n").sources[0]
    assert short.name == "docker.io/library/debian"


def test_keys_are_relative_to_the_trust_file(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "sources:\n  - name: x.example/a\n    keys: [k/a.pub]\n")
    assert policy.sources[0].keys == (tmp_path / "k" / "a.pub",)


@pytest.mark.parametrize(("text", "message"), [
    ("sources: nope\n", "needs a 'sources' list"),
    ("sources:\n  - name: a\n    digest: [x]\n", "unknown keys digest"),
    ("sources:\n  - name: a\n    digests: [sha256:12]\n", "invalid pinned digest"),
    ("sources:\n  - digests: []\n", "'name'"),
    ("sources: [\n", "not valid YAML"),
])
def test_bad_trust_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        _policy(tmp_path, text)


def test_keys_without_a_verifier_are_unknown_not_trusted(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "sources:\n  - name: x.example/a\n    keys: [a.pub]\n")
    ident = BaseIdentity(by=IdentifiedBy.LAYERS, name="x.example/a", tag="1", digest=d(1))
    verdict = trust.evaluate(ident, policy, verify=None)
    assert verdict.state is TrustState.UNKNOWN
    assert "signature verification is not available" in verdict.reason
