"""python-installed: real METADATA/RECORD and egg-info files, in venvs and system paths."""

from __future__ import annotations

from email.message import Message
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck.catalog.python import (
    PythonInstalledCataloger,
    PythonProjectCataloger,
    normalise_name,
)
from hullcheck.image.writer import whiteout
from hullcheck.model import Inventory, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (PythonInstalledCataloger(),)
SITE = "/opt/venv/lib/python3.11/site-packages"


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def meta(name: str, version: str, *extra: str) -> str:
    return "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *extra,
                      "", "Long description body.", ""])


def test_venv_and_system_site_packages(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("python/venv"), layer("python/system"))
    assert inv.unknowns == ()
    pkgs = {p.name: p for p in inv.packages}
    assert sorted(pkgs) == ["Foo_Bar", "PyJWT", "idna", "mdurl", "sortedcontainers"]

    idna = pkgs["idna"]
    assert idna.purl == "pkg:pypi/idna@3.20"
    assert idna.licenses == ("BSD-3-Clause",)  # License-Expression (PEP 639)
    assert idna.locations[0].path == f"{SITE}/idna-3.20.dist-info/METADATA"
    assert f"{SITE}/idna/core.py" in idna.files
    assert f"{SITE}/idna-3.20.dist-info/RECORD" in idna.files
    assert idna.layer == 0 and idna.found_by == "python-installed"

    assert pkgs["mdurl"].licenses == ("MIT",)  # from the classifier
    assert pkgs["sortedcontainers"].licenses == ("Apache-2.0",)  # "Apache 2.0": a known name

    jwt = pkgs["PyJWT"]
    assert jwt.purl == "pkg:pypi/pyjwt@2.6.0"  # PEP 503 name in the purl, display name kept
    assert jwt.licenses == ("MIT",)
    assert jwt.layer == 1
    assert "/usr/lib/python3/dist-packages/jwt/api_jwt.py" in jwt.files  # installed-files.txt

    foo = pkgs["Foo_Bar"]  # an egg-info *file*
    assert foo.purl == "pkg:pypi/foo-bar@1.0"
    assert foo.licenses == ("GPL-2.0-or-later",)
    assert foo.locations[0].path == "/usr/lib/python3/dist-packages/Foo_Bar-1.0.egg-info"


def test_target_dir_and_record_paths_outside_site(tmp_path: Path) -> None:
    record = ("black/__init__.py,sha256=abc,123\n"
              "../../bin/black,sha256=def,456\n"
              "black-24.1.0.dist-info/RECORD,,\n")
    inv = scan(tmp_path, {
        "app/deps/black-24.1.0.dist-info/METADATA": meta(
            "black", "24.1.0", "License: MIT",
            "Classifier: License :: OSI Approved :: Apache Software License"),
        "app/deps/black-24.1.0.dist-info/RECORD": record,
    })
    (p,) = inv.packages
    assert p.licenses == ("MIT",)  # a short License field wins over classifiers
    assert p.files == ("/app/deps/black/__init__.py", "/bin/black",
                       "/app/deps/black-24.1.0.dist-info/RECORD")


def test_long_licence_text_falls_back_to_classifiers(tmp_path: Path) -> None:
    long_text = "Copyright (c) someone\n        Permission is hereby granted, free of charge..."
    inv = scan(tmp_path, {
        "usr/lib/python3/dist-packages/x-1.dist-info/METADATA": meta(
            "X", "1", f"License: {long_text}",
            "Classifier: License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)",
            "Classifier: License :: OSI Approved :: BSD License"),
    })
    (p,) = inv.packages
    assert p.licenses == ("GPL-2.0-or-later", "BSD License")
    assert p.files == ()


def test_uninstalled_in_later_layer_is_hidden_and_upgrade(tmp_path: Path) -> None:
    d1 = "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info"
    d2 = "usr/local/lib/python3.11/site-packages/requests-2.32.3.dist-info"
    d3 = "usr/local/lib/python3.11/site-packages/six-1.16.0.dist-info"
    inv = scan(
        tmp_path,
        {f"{d1}/METADATA": meta("requests", "2.31.0"), f"{d3}/METADATA": meta("six", "1.16.0")},
        [whiteout(d1), whiteout(d3)],
        {f"{d2}/METADATA": meta("requests", "2.32.3")},
    )
    got = {(p.name, p.version): p for p in inv.packages}
    assert got[("requests", "2.31.0")].visibility is Visibility.HIDDEN
    assert got[("six", "1.16.0")].visibility is Visibility.HIDDEN
    assert got[("requests", "2.32.3")].visibility is Visibility.VISIBLE
    assert got[("requests", "2.32.3")].layer == 2


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x00\x01binary\x00" * 100, "binary data"),
        (b"Metadata-Version: 2.1\nSummary: no name\n", "no Name"),
        (b"Metadata-Version: 2.1\nName: x\n", "no Version"),
        (b"Name: " + b"a" * 5000 + b"\nVersion: 1\n", "implausibly long"),
    ],
)
def test_hostile_metadata_is_an_unknown(tmp_path: Path, content: bytes, reason: str) -> None:
    inv = scan(tmp_path, {"usr/lib/python3/dist-packages/x-1.dist-info/METADATA": content})
    assert inv.packages == ()
    (u,) = inv.unknowns
    assert u.cataloger == "python-installed" and reason in u.reason


def test_garbage_record_does_not_crash(tmp_path: Path) -> None:
    inv = scan(tmp_path, {
        "site/x-1.dist-info/METADATA": meta("x", "1"),
        "site/x-1.dist-info/RECORD": b'\xff\xfe"unterminated,quote\n\x00,,\n',
    })
    (p,) = inv.packages
    assert p.name == "x" and inv.unknowns == ()


def test_pep503_normalisation() -> None:
    assert normalise_name("Foo.Bar__baz") == "foo-bar-baz"
    assert normalise_name("zope.interface") == "zope-interface"


PEP621 = '[project]\nname = "Acme_Web"\nversion = "2.1.0"\ndependencies = ["requests"]\n'
POETRY = '[tool.poetry]\nname = "worker"\nversion = "0.3.0"\n\n[build-system]\nrequires = []\n'


def test_project_manifests_name_the_application(tmp_path: Path) -> None:
    inv = inventory_of(tmp_path, (PythonProjectCataloger(),), {
        "app/pyproject.toml": PEP621,
        "srv/worker/pyproject.toml": POETRY,
        # Not a versioned project: a dynamic version, a tool-only file, not TOML at all.
        "lib/dyn/pyproject.toml": '[project]\nname = "dyn"\ndynamic = ["version"]\n',
        "lib/tool/pyproject.toml": "[tool.black]\nline-length = 99\n",
        "lib/bad/pyproject.toml": "[project\nname = ",
        # A source tree shipped inside an installed package is that package's business.
        f"{SITE[1:]}/vendored/pyproject.toml": '[project]\nname = "v"\nversion = "1"\n',
    })
    got = sorted((p.name, p.version, p.purl, p.found_by) for p in inv.packages)
    assert got == [("Acme_Web", "2.1.0", "pkg:pypi/acme-web@2.1.0", "python-project"),
                   ("worker", "0.3.0", "pkg:pypi/worker@0.3.0", "python-project")]
    assert all(dict(p.extras)["project"] == "true" for p in inv.packages)
    assert inv.unknowns == ()


def test_project_installed_in_the_image_is_listed_once(tmp_path: Path) -> None:
    """`COPY . /app && pip install /app`: the installed distribution is the package."""
    cats = (PythonInstalledCataloger(), PythonProjectCataloger())
    inv = inventory_of(tmp_path, cats, {
        "app/pyproject.toml": PEP621,
        f"{SITE[1:]}/acme_web-2.1.0.dist-info/METADATA": meta("Acme_Web", "2.1.0"),
    })
    assert [(p.name, p.found_by) for p in inv.packages] == [("Acme_Web", "python-installed")]


_LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])
_META_LINES = st.sampled_from([
    "Metadata-Version: 2.1", "Name: demo", "Version: 1.0", "Summary: a thing", "  folded on",
    "\tfolded too", "Classifier: License :: OSI Approved :: MIT License", "License: MIT",
    "no colon here", "From someone", "Author: é", "", " ", "Name: second", "X:", ":odd"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_META_LINES, _LINE_ENDS), max_size=14), st.booleans())
def test_the_header_block_parses_as_the_whole_text(lines: list[tuple[str, str]],
                                                   unterminated: bool) -> None:
    """What the email parser makes of core metadata's headers is the same from the text up to
    its first empty line as from the whole text (the description after it is not parsed)."""
    from email.parser import HeaderParser

    from hullcheck.catalog.python import header_block

    text = "".join(line + end for line, end in lines)
    if unterminated and text:
        text = text[:-1]
    block = header_block(text)
    assert text.startswith(block)
    whole, cut = HeaderParser().parsestr(text), HeaderParser().parsestr(block)
    assert whole.items() == cut.items()


def test_only_the_header_block_of_metadata_is_parsed(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from email.parser import HeaderParser

    seen: list[str] = []
    parse = HeaderParser.parsestr

    def recorded(self: HeaderParser, text: str, headersonly: bool = True) -> Message:
        seen.append(text)
        return parse(self, text, headersonly)

    monkeypatch.setattr(HeaderParser, "parsestr", recorded)
    description = "A long description.\n\nWith: colons\n" * 500
    meta = f"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n{description}"
    (pkg,) = inventory_of(tmp_path, [PythonInstalledCataloger()], {
        "usr/lib/python3/site-packages/demo-1.0.dist-info/METADATA": meta}).packages
    assert (pkg.name, pkg.version) == ("demo", "1.0")
    assert seen == ["Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n"]
