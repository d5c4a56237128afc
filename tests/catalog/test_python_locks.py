"""python-poetry-lock, python-pipfile-lock and python-requirements on real-format files.

``srv/rsa/Pipfile.lock`` is python-rsa's own Pipfile.lock (Apache-2.0), as vendored by
gsutil in the Google Cloud SDK.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.catalog.python_locks import (
    PipfileLockCataloger,
    PoetryLockCataloger,
    RequirementsCataloger,
    logical_lines,
)
from hullcheck.model import Inventory, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (PoetryLockCataloger(), PipfileLockCataloger(), RequirementsCataloger())


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def found(inv: Inventory, by: str) -> dict[tuple[str, str], dict[str, str]]:
    return {(p.name, p.version): dict(p.extras) for p in inv.packages if p.found_by == by}


def test_poetry_lock(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("python_locks/app"))
    assert inv.unknowns == ()
    poetry = found(inv, "python-poetry-lock")
    assert sorted(poetry) == [("Django", "4.2.8"), ("certifi", "2023.11.17"),
                              ("colorama", "0.4.6"), ("internal-lib", "0.3.0"),
                              ("zope.interface", "6.1")]
    assert all(e["declared"] == "true" and e["lock-version"] == "2.0" for e in poetry.values())
    assert poetry[("internal-lib", "0.3.0")]["source-resolved_reference"].startswith("2f6a4e8b")
    assert poetry[("zope.interface", "6.1")]["optional"] == "true"
    (zope,) = [p for p in inv.packages if p.name == "zope.interface"]
    assert zope.purl == "pkg:pypi/zope-interface@6.1"
    assert zope.locations[0].path == "/srv/api/poetry.lock"


def test_pipfile_lock(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("python_locks/app"))
    pipenv = found(inv, "python-pipfile-lock")
    assert len(pipenv) == 42  # 1 default + 41 develop, as in the real file
    assert pipenv[("pyasn1", "0.4.4")] == {"declared": "true", "index": "pypi"}
    assert pipenv[("pytest", "3.8.0")] == {"declared": "true", "dev": "true", "index": "pypi"}
    assert pipenv[("importlib-metadata", "1.6.0")]["markers"] == "python_version < '3.8'"


def test_requirements_pins_only(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("python_locks/app"))
    reqs = {(p.locations[0].path, p.name, p.version): dict(p.extras)
            for p in inv.packages if p.found_by == "python-requirements"}
    # Ranges, bare names, wildcards, URLs, paths, -e/-r/--index-url lines are not pins; the
    # requirements.txt inside an installed package is not the image's.
    assert sorted(reqs) == [
        ("/srv/api/requirements-dev.txt", "coverage", "7.3.3"),
        ("/srv/api/requirements-dev.txt", "pytest", "7.4.3"),
        ("/srv/api/requirements.txt", "Django", "4.2.8"),
        ("/srv/api/requirements.txt", "asgiref", "3.7.2"),
        ("/srv/api/requirements.txt", "sqlparse", "0.4.4"),
        ("/srv/api/requirements.txt", "urllib3", "2.1.0"),
        ("/srv/api/requirements/base.txt", "typing-extensions", "4.9.0"),
    ]
    django = reqs[("/srv/api/requirements.txt", "Django", "4.2.8")]
    assert django == {"declared": "true", "extras": "argon2", "markers": 'python_version >= "3.8"'}
    assert reqs[("/srv/api/requirements-dev.txt", "coverage", "7.3.3")]["extras"] == "toml"


def test_logical_lines() -> None:
    text = "a==1 \\\n  --hash=sha256:x \\\n  --hash=sha256:y\n# c\nb==2 # via a\nurl#frag==1\n"
    assert list(logical_lines(text)) == [(1, "a==1    --hash=sha256:x    --hash=sha256:y"),
                                         (5, "b==2"), (6, "url#frag==1")]


def test_pin_changed_in_later_layer(tmp_path: Path) -> None:
    inv = scan(tmp_path, {"app/requirements.txt": "flask==2.0.0\n"},
               {"app/requirements.txt": "flask==3.0.0\n"})
    got = {p.version: p for p in inv.packages}
    assert got["2.0.0"].visibility is Visibility.HIDDEN and got["2.0.0"].layer == 0
    assert got["3.0.0"].visibility is Visibility.VISIBLE and got["3.0.0"].layer == 1


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("poetry.lock", "[[package]\nname = 'x'", "not valid TOML"),
        ("poetry.lock", "a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ("poetry.lock", "package = 1", "not an array of tables"),
        ("poetry.lock", "[[package]]\nname = 'x'\n", "package 0: no readable name or version"),
        ("Pipfile.lock", "{", "not valid JSON"),
        ("Pipfile.lock", "[" * 100_000, "nested too deeply"),
        ("Pipfile.lock", '{"default": []}', "default is not an object"),
        ("Pipfile.lock", '{"default": {"x": {"version": ">=1"}}}', "unreadable version"),
        ("requirements.txt", "x==1; python_version <<< '3'\n", "not a requirement"),
        ("requirements.txt", "a" * 20_000 + "==1\n", "over 10000 characters"),
        ("requirements.txt", b"\x00\x01" * 10, "binary data"),
    ],
)
def test_hostile_files(tmp_path: Path, name: str, content: str | bytes, reason: str) -> None:
    inv = scan(tmp_path, {f"app/{name}": content})
    assert inv.packages == ()
    (u,) = inv.unknowns
    assert reason in u.reason
