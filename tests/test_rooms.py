"""Rules of the rooms that the layers contract does not state: who renders for terminals,
who may talk to registries, what policy may see. Read from the real import graph."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import grimp
import pytest

import hullcheck

GATHERERS = ("secrets", "misconfig", "sign", "base", "image", "registry", "filetree", "catalog")


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("hullcheck", include_external_packages=True)


def _room(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_only_report_and_cli_know_terminals() -> None:
    importers = {m for m in graph().find_modules_that_directly_import("rich")}
    assert importers and {_room(m) for m in importers} <= {"hullcheck.report", "hullcheck.cli"}


def test_one_sarif_log_and_one_information_uri() -> None:
    src = Path(hullcheck.__file__).parent
    for fact in (r"^INFO_URI = ", r"sarif-2\.1\.0\.json"):
        where = [p.relative_to(src).as_posix() for p in sorted(src.rglob("*.py"))
                 if re.search(fact, p.read_text(encoding="utf-8"), re.MULTILINE)]
        assert where == ["report/sarif.py"], (fact, where)
    from hullcheck import report

    assert {f.kind.__name__ for f in report.FORMATS if f.name == "sarif"} == {"ScanReport",
                                                                             "PolicyReport"}


@pytest.mark.parametrize("room", GATHERERS)
def test_policy_judges_and_imports_no_room_that_gathers(room: str) -> None:
    chains = graph().find_shortest_chains(importer="hullcheck.policy", imported=f"hullcheck.{room}")
    assert not chains, chains


@pytest.mark.parametrize("room", ["image", "registry"])
def test_the_server_goes_through_the_pipeline(room: str) -> None:
    g = graph()
    direct = {(m, i) for m in g.find_children("hullcheck.server") | {"hullcheck.server"}
              for i in g.find_modules_directly_imported_by(m) if _room(i) == f"hullcheck.{room}"}
    assert not direct, direct


@pytest.mark.parametrize("room", ["secrets", "misconfig", "policy"])
def test_the_scanning_and_judging_rooms_do_not_render(room: str) -> None:
    import importlib.util

    module = importlib.import_module(f"hullcheck.{room}")
    assert not {"render", "table", "to_json", "FORMATS"} & set(dir(module))
    assert importlib.util.find_spec(f"hullcheck.{room}.render") is None


def test_base_trust_names_signers_and_the_pipeline_verifies() -> None:
    """Base trust files name keys and keyless identities; the verifying is the pipeline's
    (``pipeline.signature_verifier``), so base reaches no sign module."""
    chains = graph().find_shortest_chains(importer="hullcheck.base", imported="hullcheck.sign")
    assert not chains, chains


def test_the_signer_vocabulary_is_plain_values() -> None:
    """``signers`` (whom a keyless verification accepts), shared by sign, base, policy and the
    CLI, imports no room and no cryptography."""
    imported = graph().find_modules_directly_imported_by("hullcheck.signers")
    assert {m for m in imported if m.startswith("hullcheck")} <= {"hullcheck.errors"}
    assert not {m for m in imported if m.startswith(("cryptography", "sigstore"))}
