"""hullcheck base against a real registry: identity, freshness, EOL, trust, rebuild advice."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hullcheck import pipeline
from hullcheck.base.model import BaseAssessment, EolState, IdentifiedBy, TrustState
from tests.base.conftest import World

TODAY = date(2024, 6, 1)  # Debian 12 supported, Debian 9 not: true of any date from here on for 9


def assess(world: World, image: str, **kw: object) -> BaseAssessment:
    args: dict[str, object] = {"catalog": world.catalog, "today": TODAY, "advice": False}
    args.update(kw)
    return pipeline.assess_base(pipeline.BaseRequest(image=image, **args))  # type: ignore[arg-type]


def test_identifies_the_base_by_its_layers(world: World) -> None:
    a = assess(world, world.app)
    ident = a.identity
    assert ident.by is IdentifiedBy.LAYERS
    assert (ident.name, ident.tag, ident.digest) == (world.base, "12", world.old.digest)
    assert ident.layers == 2  # the app's third layer is its own
    assert a.distro is not None and (a.distro.id, a.distro.version_id) == ("debian", "12")


def test_reports_how_far_behind_the_tag_the_base_is(world: World) -> None:
    fresh = assess(world, world.app).freshness
    assert fresh is not None
    assert fresh.built_digest == world.old.digest
    assert fresh.current_digest == world.new.digest
    assert not fresh.up_to_date
    assert fresh.days_behind == 45
    assert fresh.sentence() == (
        f"built on digest {world.old.digest} (created 2024-01-01); tag {world.tag} now points to "
        f"{world.new.digest} (created 2024-02-15): 45 days behind")


def test_an_uncatalogued_base_is_not_identified(world: World) -> None:
    # Only the old base is catalogued and the new one's first layer differs: not identified.
    a = assess(world, world.tag)
    assert a.identity.by is IdentifiedBy.NONE
    assert a.freshness is None


def test_identifies_the_base_by_annotation_and_checks_its_layers(world: World, tmp_path: Path) -> None:
    a = assess(world, world.app_annotated, catalog=tmp_path / "empty.json")
    ident = a.identity
    assert ident.by is IdentifiedBy.ANNOTATION
    assert (ident.name, ident.tag, ident.digest) == (world.base, "12", world.old.digest)
    assert ident.layers_match is True and ident.layers == 2
    assert a.freshness is not None and a.freshness.days_behind == 45


def test_identifies_the_base_by_config_labels(world: World, tmp_path: Path) -> None:
    a = assess(world, world.app_labelled, catalog=tmp_path / "empty.json")
    assert a.identity.by is IdentifiedBy.LABEL
    assert a.identity.digest == world.old.digest and a.identity.layers_match is True


def test_an_annotation_that_names_another_base_is_caught(world: World, tmp_path: Path) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text(f"sources:\n  - name: {world.base}\n")
    a = assess(world, world.app_lying, catalog=tmp_path / "empty.json", trust=trust)
    assert a.identity.by is IdentifiedBy.ANNOTATION
    assert a.identity.digest == world.new.digest
    assert a.identity.layers_match is False and a.identity.layers is None
    assert a.trust is not None and a.trust.state is TrustState.UNTRUSTED
    assert "layers are not the image's first layers" in a.trust.reason


def test_eol_supported_release(world: World) -> None:
    a = assess(world, world.app)
    assert a.eol.state is EolState.SUPPORTED
    assert a.eol.release is not None and a.eol.release.cycle == "12"
    assert "security support until 2026-07-11" in a.eol.reason


def test_trust_allowed_repository(world: World, tmp_path: Path) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text(f'sources:\n  - name: "{world.host}/hcbase/*"\n')
    verdict = assess(world, world.app, trust=trust).trust
    assert verdict is not None and verdict.state is TrustState.TRUSTED
    assert verdict.rule == f"{world.host}/hcbase/*"


def test_trust_repository_not_listed(world: World, tmp_path: Path) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text("sources:\n  - name: debian\n  - name: registry.example.com/**\n")
    verdict = assess(world, world.app, trust=trust).trust
    assert verdict is not None and verdict.state is TrustState.UNTRUSTED
    assert verdict.reason == f"{world.base} is not an allowed source in {trust}"


def test_trust_pinned_digest_mismatch(world: World, tmp_path: Path) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text(f"sources:\n  - name: {world.base}\n    digests: [{world.new.digest}]\n")
    verdict = assess(world, world.app, trust=trust).trust
    assert verdict is not None and verdict.state is TrustState.UNTRUSTED
    assert verdict.reason == (f"digest {world.old.digest} is not one of the 1 digests pinned for "
                              f"{world.base}")
    trust.write_text(f"sources:\n  - name: {world.base}\n    digests: [{world.old.digest}]\n")
    verdict = assess(world, world.app, trust=trust).trust
    assert verdict is not None and verdict.state is TrustState.TRUSTED
    assert "digest pinned" in verdict.reason


def test_trust_unknown_when_no_base_is_identified(world: World, tmp_path: Path) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text("sources:\n  - name: '**'\n")
    verdict = assess(world, world.app, trust=trust, catalog=tmp_path / "empty.json").trust
    assert verdict is not None and verdict.state is TrustState.UNKNOWN


def test_rebuild_advice_counts_only_base_layer_findings(world: World) -> None:
    a = assess(world, world.app, advice=True, db=world.db)
    advice = a.advice
    assert advice is not None
    assert advice.candidate == f"{world.tag}@{world.new.digest}"
    fixed = {(f.package.name, f.id) for f in advice.fixed}
    names = {name for name, _ in fixed}
    assert names == {"requests", "urllib3", "sope4.9"}, fixed
    ids = {i for f in advice.fixed for i in f.ids}
    assert {"PYSEC-2018-28", "PYSEC-2019-133", "CVE-2025-53603"} <= ids
    # The application's own vulnerable package is not something a rebuild fixes.
    assert all(f.package.name != "ultralytics" for f in (*advice.fixed, *advice.remaining))
    assert advice.introduced == ()
    assert advice.summary().startswith(
        f"rebuild on {world.tag}@{world.new.digest}: fixes {len(advice.vulnerabilities(advice.fixed))} "
        "vulnerabilities")


def test_rebuild_advice_is_skipped_without_a_database(world: World, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HULLCHECK_DB", str(tmp_path / "missing.db"))
    a = assess(world, world.app, advice=True)
    assert a.advice is None
    assert any("no advisory database" in n for n in a.notes)
