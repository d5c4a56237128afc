"""gem-gemspec and gem-lock on RubyGems-generated specifications and a Bundler lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.catalog.ruby import GemfileLockCataloger, GemspecCataloger, parse_gemspec
from hullcheck.errors import FormatError
from hullcheck.image.writer import whiteout
from hullcheck.model import Inventory, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (GemspecCataloger(), GemfileLockCataloger())
SPECS = "/usr/local/bundle/specifications"


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def test_installed_gems_and_lock(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("ruby/app"))
    assert inv.unknowns == ()
    installed = {p.name: p for p in inv.packages if p.found_by == "gem-gemspec"}
    assert sorted(installed) == ["json", "nokogiri", "rack"]
    rack = installed["rack"]
    assert rack.purl == "pkg:gem/rack@3.0.8"
    assert rack.licenses == ("MIT",)
    assert rack.locations[0].path == f"{SPECS}/rack-3.0.8.gemspec"
    assert dict(rack.extras)["gem-home"] == "/usr/local/bundle"
    noko = installed["nokogiri"]
    assert noko.version == "1.16.7" and noko.arch == "x86_64-linux"
    assert noko.purl == "pkg:gem/nokogiri@1.16.7?platform=x86_64-linux"
    json_gem = installed["json"]  # a default gem, bundled with Ruby
    assert json_gem.licenses == ("Ruby",)
    assert dict(json_gem.extras)["default-gem"] == "true"
    assert dict(json_gem.extras)["gem-home"] == "/usr/local/lib/ruby/gems/3.2.0"

    locked = sorted((p.name, p.version, p.arch) for p in inv.packages if p.found_by == "gem-lock")
    # The lock inside the installed rack gem (minitest) is the gem's own, not the image's.
    assert locked == [
        ("activesupport", "7.1.3", ""), ("base64", "0.2.0", ""), ("billing", "0.1.0", ""),
        ("concurrent-ruby", "1.2.3", ""), ("mini_portile2", "2.8.5", ""),
        ("nokogiri", "1.16.7", ""), ("nokogiri", "1.16.7", "x86_64-linux"),
        ("racc", "1.7.3", ""), ("rack", "3.0.8", ""),
    ]
    by_name = {p.name: p for p in inv.packages if p.found_by == "gem-lock"}
    rails = dict(by_name["activesupport"].extras)
    assert rails["lock-section"] == "GIT" and rails["revision"].startswith("5b8b8a9a")
    assert rails["declared"] == "true"
    assert dict(by_name["billing"].extras)["remote"] == "engines/billing"
    assert all(p.purl.startswith("pkg:gem/") for p in inv.packages)


def test_every_version_of_a_spec_and_uninstall(tmp_path: Path) -> None:
    spec = 'Gem::Specification.new do |s|\n  s.name = "rake".freeze\n  s.version = "{v}"\nend\n'
    old = f"{SPECS}/rake-13.0.6.gemspec".lstrip("/")
    inv = scan(tmp_path, {old: spec.format(v="13.0.6")}, [whiteout(old)],
               {f"{SPECS}/rake-13.2.1.gemspec".lstrip("/"): spec.format(v="13.2.1")})
    got = {p.version: p for p in inv.packages}
    assert got["13.0.6"].visibility is Visibility.HIDDEN and got["13.0.6"].layer == 0
    assert got["13.2.1"].visibility is Visibility.VISIBLE and got["13.2.1"].layer == 2


def test_hand_written_forms() -> None:
    text = ("Gem::Specification.new do |spec|\n"
            "  spec.name    = 'my-gem'   # the name\n"
            "  spec.version = Gem::Version.new('2.0.0.pre1')\n"
            "  spec.license = 'Apache-2.0'\n"
            "  spec.platform = Gem::Platform::RUBY\n"
            "end\n")
    p = parse_gemspec(text, "/x/specifications/my-gem-2.0.0.pre1.gemspec")
    assert (p.name, p.version, p.licenses, p.arch) == ("my-gem", "2.0.0.pre1", ("Apache-2.0",), "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('s.name = "x"\ns.version = File.read("VERSION").strip\n', "version is computed"),
        ('s.version = "1.0"\n', "no name"),
        ('s.name = "x"\n', "no version"),
        ('s.name = "a b"\ns.version = "1"\n', "implausible"),
    ],
)
def test_unreadable_gemspecs(text: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        parse_gemspec(text, "/s/specifications/x.gemspec")


def test_hostile_files_are_unknowns(tmp_path: Path) -> None:
    inv = scan(tmp_path, {
        "gems/specifications/bin.gemspec": b"\x00\x01" * 5000,
        "gems/specifications/long.gemspec": 's.name = "' + "a" * 200_000 + '"\ns.version = "1"\n',
        "app/Gemfile.lock": "GEM\n  specs:\n    (((\n    broken (\n",
        "app2/Gemfile.lock": "GEM\n  specs:\n    ok (1.0)\n    ??? bad line\n",
    })
    reasons = sorted((u.location.path, u.reason) for u in inv.unknowns)
    assert [r[0] for r in reasons] == ["/app/Gemfile.lock", "/app2/Gemfile.lock",
                                       "/gems/specifications/bin.gemspec",
                                       "/gems/specifications/long.gemspec"]
    assert "no readable gem" in reasons[0][1]
    assert "unreadable spec line" in reasons[1][1]
    assert "binary data" in reasons[2][1]
    assert "computed" in reasons[3][1]  # over-long literal is not read as a literal
    assert [(p.name, p.version) for p in inv.packages] == [("ok", "1.0")]
