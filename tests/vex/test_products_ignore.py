"""Ignore files that are empty, of the wrong shape or with bad fields, and CycloneDX
``affects[].versions`` that may narrow a product but never widen or rename it. Found open by
mutation testing (``make mutate``): each test fails with a mutant of ``vex/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.errors import FormatError
from hullcheck.vex import load_ignore, load_vex
from hullcheck.vex.model import Product
from hullcheck.vex.products import Matcher

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text", ["", "---\n", "''\n", "other: value\n", "ignore:\n"],
                         ids=["empty", "document-marker", "empty-string", "no-ignore-key", "bare-key"])
def test_ignore_files_with_no_rules(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text(text)
    assert load_ignore(path) == []


@pytest.mark.parametrize("text, says", [
    ("- id: CVE-1\n", "expected a mapping with an 'ignore' list"),
    ("just text\n", "expected a mapping with an 'ignore' list"),
    ("ignore:\n  - CVE-1\n", "ignore[0] must be a mapping"),
    ("ignore:\n  - {id: CVE-1, reason: r, why: x, owner: y}\n",
     "ignore[0]: unknown field(s) owner, why"),
    ("ignore:\n  - {id: CVE-1, reason: r, expires: " + "2025-13-45" * 5 + "}\n",
     "ignore[0]: expires '" + ("2025-13-45" * 4) + "' is not a YYYY-MM-DD date"),
], ids=["list", "scalar", "rule-string", "unknown-fields", "long-bad-date"])
def test_ignore_files_of_the_wrong_shape(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text(text)
    with pytest.raises(FormatError) as exc:
        load_ignore(path)
    assert str(exc.value) == f"{path}: {says}"


def _affects(tmp_path: Path, ref: str, *versions: str) -> tuple[tuple[Product, ...], tuple[str, ...]]:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps({"bomFormat": "CycloneDX", "vulnerabilities": [{
        "id": "CVE-1", "analysis": {"state": "resolved"},
        "affects": [{"ref": ref, "versions": [{"version": v} for v in versions]}]}]}))
    (st,) = load_vex(path)
    return st.products, st.ignored


def test_affects_versions_narrow_a_package_to_its_own_version_only(tmp_path: Path) -> None:
    named, ignored = _affects(tmp_path, "pkg:npm/left-pad@1.3.0", "1.3.0", "1.4.0")
    assert named == (Product(id="pkg:npm/left-pad@1.3.0"),)
    assert ignored == ("pkg:npm/left-pad@1.3.0 1.4.0",)


@pytest.mark.parametrize("ref", [DIGEST, f"pkg:oci/app@{DIGEST.replace(':', '%3A')}"],
                         ids=["digest", "oci-purl"])
def test_affects_versions_of_an_image_name_nothing(tmp_path: Path, ref: str) -> None:
    named, ignored = _affects(tmp_path, ref, "1.0")
    assert named == ()
    assert ignored == (f"{ref} 1.0",)


def test_a_product_with_a_subpath_names_the_package_at_that_subpath() -> None:
    m = Matcher(())
    pkg = "pkg:golang/example.com/mod@v1.2.0#cmd/tool"
    assert m.is_package("pkg:golang/example.com/mod#cmd/tool", pkg)
    assert not m.is_package("pkg:golang/example.com/mod#cmd/other", pkg)
    assert m.is_package("pkg:golang/example.com/mod", pkg)
