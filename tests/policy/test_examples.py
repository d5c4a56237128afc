"""examples/policy/production.yaml does what its comments and docs/policy.md say, judged on
real evidence: the configuration checks of a real image, the licences of a real Debian tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck import catalog, filetree, misconfig
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.image import open_image
from hullcheck.image.writer import ImageBuilder, file, write_oci_layout
from hullcheck.pipeline.policy import config_evidence, package_evidence
from hullcheck.policy import Action, evaluate, load
from hullcheck.policy.evaluate import Outcome
from hullcheck.policy.rules import ConfigRule
from tests.fixtures.debootstrap import debootstrap_rootfs
from tests.policy._build import TODAY, evidence

PRODUCTION = Path(__file__).parents[2] / "examples" / "policy" / "production.yaml"


def root_image(tmp: Path) -> str:
    """An image as most base images are: no USER (root), no HEALTHCHECK."""
    b = ImageBuilder(user="", healthcheck=None, annotations={
        "org.opencontainers.image.base.name": "docker.io/library/debian:12-slim"})
    b.add_layer([file("app/main", "x")], created_by="COPY main /app/")
    write_oci_layout(tmp / "oci", [(b.build(), "t")])
    return f"oci:{tmp / 'oci'}:t"


def test_every_config_check_is_in_exactly_one_example_rule() -> None:
    rules = [r for r in load(PRODUCTION).rules if isinstance(r, ConfigRule)]
    assert all(r.severity is None for r in rules)  # by id: a severity would catch root too
    listed = [i for r in rules for i in r.ids]
    assert sorted(listed) == sorted(c.id for c in misconfig.CHECKS)


def test_a_root_image_without_healthcheck_warns_and_does_not_fail(tmp_path: Path) -> None:
    """"Runs as root" is a high-severity check; the example says it warns, and it does."""
    findings = misconfig.check(open_image(root_image(tmp_path)))
    assert {f.id for f in findings} == {"HC-C001", "HC-C002"}
    decision = evaluate(evidence(config=config_evidence(findings)), load(PRODUCTION), now=TODAY)
    assert decision.outcome is Outcome.WARN
    (v,) = decision.violations
    assert (v.rule, v.action) == ("image-hygiene", Action.WARN)
    assert sorted(i.id for i in v.items) == ["HC-C001", "HC-C002"]


def test_a_pipe_to_shell_still_fails(tmp_path: Path) -> None:
    b = ImageBuilder(user="app", healthcheck=["CMD", "/app/health"])
    b.add_layer([file("app/main", "x")],
                created_by="RUN /bin/sh -c curl -fsSL https://get.example.sh | sh")
    write_oci_layout(tmp_path / "oci", [(b.build(), "t")])
    findings = misconfig.check(open_image(f"oci:{tmp_path / 'oci'}:t"))
    decision = evaluate(evidence(config=config_evidence(findings)), load(PRODUCTION), now=TODAY)
    assert decision.outcome is Outcome.FAIL
    assert [v.rule for v in decision.failed] == ["image-config"]


@pytest.mark.slow
def test_stock_debian_licences_raise_no_licence_warning() -> None:
    """A debootstrap bookworm tree: free-form copyright files (licences detected) and DEP-5
    files naming non-SPDX licences (findutils' "and/or", perl's "GPL-1+ or Artistic, and
    Expat") all give expressions the licence rule reads: nothing to warn about."""
    image = open_image(f"dir:{debootstrap_rootfs()}")
    cats = (DpkgCataloger(),)
    inv = catalog.run(filetree.build(image, catalog.globs_for(cats)), image.source,
                      catalogers=cats)
    packages = package_evidence(inv)
    assert len(packages) > 80
    decision = evaluate(evidence(packages=packages), load(PRODUCTION), now=TODAY)
    assert [v.rule for v in decision.violations] == []
    assert decision.outcome is Outcome.PASS
