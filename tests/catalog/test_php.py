"""php-composer-installed and php-composer-lock on Composer 1 and 2 files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.catalog.php import ComposerInstalledCataloger, ComposerLockCataloger
from hullcheck.model import Inventory, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (ComposerInstalledCataloger(), ComposerLockCataloger())
WWW = "/var/www/html"


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def test_composer2_installed_and_lock(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("php/app"))
    assert inv.unknowns == ()
    installed = {p.name: p for p in inv.packages if p.found_by == "php-composer-installed"}
    assert sorted(installed) == ["doctrine/dbal", "monolog/monolog", "phpunit/phpunit",
                                 "psr/log", "symfony/polyfill-mbstring"]
    mono = installed["monolog/monolog"]
    assert mono.purl == "pkg:composer/monolog/monolog@3.5.0"
    assert mono.licenses == ("MIT",)
    assert mono.locations[0].path == f"{WWW}/vendor/composer/installed.json"
    extras = dict(mono.extras)
    assert extras["source-reference"] == "c915e2634718dbc8a4a15c61b0e62e7a44e14448"
    assert extras["vendor-dir"] == f"{WWW}/vendor"
    assert "dev" not in extras and "declared" not in extras
    assert installed["symfony/polyfill-mbstring"].version == "v1.28.0"  # as Composer wrote it
    assert installed["symfony/polyfill-mbstring"].purl == \
        "pkg:composer/symfony/polyfill-mbstring@v1.28.0"
    assert dict(installed["phpunit/phpunit"].extras)["dev"] == "true"  # dev-package-names
    assert installed["doctrine/dbal"].licenses == ("LGPL-2.1-only OR GPL-3.0-or-later",)

    locked = {p.name: p for p in inv.packages if p.found_by == "php-composer-lock"}
    assert sorted(locked) == ["monolog/monolog", "phpunit/phpunit", "psr/log"]
    assert dict(locked["psr/log"].extras)["declared"] == "true"
    assert dict(locked["phpunit/phpunit"].extras)["dev"] == "true"
    assert "dev" not in dict(locked["psr/log"].extras)


def test_composer1_list_and_upgrade_in_a_later_layer(tmp_path: Path) -> None:
    path = "app/vendor/composer/installed.json"
    newer = json.dumps([{"name": "guzzlehttp/guzzle", "version": "7.8.1", "license": ["MIT"]}])
    inv = scan(tmp_path, layer("php/composer1"), {path: newer})
    got = {(p.name, p.version): p for p in inv.packages}
    assert set(got) == {("guzzlehttp/guzzle", "6.5.5"), ("guzzlehttp/promises", "1.4.0"),
                        ("guzzlehttp/guzzle", "7.8.1")}
    assert got[("guzzlehttp/guzzle", "6.5.5")].visibility is Visibility.HIDDEN
    assert got[("guzzlehttp/guzzle", "6.5.5")].layer == 0
    assert got[("guzzlehttp/guzzle", "7.8.1")].visibility is Visibility.VISIBLE
    assert got[("guzzlehttp/guzzle", "7.8.1")].layer == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe{", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'"a string"', "neither a list nor an object"),
        (b'{"packages": {"a": 1}}', "packages is not a list"),
        (b'[1, {"name": "x"}]', "no readable package (package 0 is not an object)"),
    ],
)
def test_hostile_installed_json(tmp_path: Path, content: bytes, reason: str) -> None:
    inv = scan(tmp_path, {"app/vendor/composer/installed.json": content})
    assert inv.packages == ()
    (u,) = inv.unknowns
    assert u.cataloger == "php-composer-installed" and reason in u.reason


def test_bad_records_beside_good_ones(tmp_path: Path) -> None:
    doc = {"packages": [{"name": "ok/ok", "version": "1.0.0"},
                        {"name": "Not A Name", "version": "1"},
                        {"name": "a/b", "version": {"x": 1}}]}
    inv = scan(tmp_path, {"srv/composer.lock": json.dumps(doc),
                          "srv/vendor/x/y/composer.lock": json.dumps(doc)})
    assert [p.purl for p in inv.packages] == ["pkg:composer/ok/ok@1.0.0"]  # vendor/ lock ignored
    assert sorted(u.reason for u in inv.unknowns) == [
        "package 1: implausible name or version 'not a name'",
        "package 2: no name or version",
    ]
