"""Ruby gems: installed ones (``gem-gemspec``) and lock-declared ones (``gem-lock``).

``gem-gemspec`` reads the specifications RubyGems writes when it installs a gem:
``<GEM_HOME>/specifications/NAME-VERSION.gemspec`` (and ``specifications/default/``
for the default gems bundled with Ruby itself). They are Ruby code; nothing here runs
it. RubyGems generates them in one shape::

    Gem::Specification.new do |s|
      s.name = "rake".freeze
      s.version = "13.0.6"
      s.licenses = ["MIT".freeze]

so the parser reads ``<var>.name``/``version``/``license(s)`` assignments of string
literals (``.freeze`` and ``Gem::Version.new("...")`` accepted) and nothing else. A
gemspec whose name or version is computed (hand-written, ``File.read("VERSION")``) is an
``Unknown``, never a guess.

``gem-lock`` reads ``Gemfile.lock`` (Bundler): every ``NAME (VERSION[-PLATFORM])`` line
under a ``specs:`` of the ``GEM``, ``GIT`` and ``PATH`` sections. A lock says what *would*
be installed: those packages carry ``declared=true`` in extras.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator

from hullcheck import ecosystem
from hullcheck.catalog import license as lic
from hullcheck.catalog.base import Env
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType, Unknown

GEMSPEC = "gem-gemspec"
LOCK = "gem-lock"
MAX_NAME = 200
MAX_PACKAGES = 100_000

# A Ruby string literal: "..." or '...' (escapes allowed inside), optionally .freeze'd.
_STR = r"""(?:"((?:[^"\\\n]|\\.){0,1000})"|'((?:[^'\\\n]|\\.){0,1000})')(?:\.freeze)?"""
_ASSIGN = re.compile(
    r"^[ \t]*[a-z_][a-z0-9_]*\.(name|version|platform|licenses?)[ \t]*=[ \t]*(.*?)[ \t]*(?:#.*)?$",
    re.MULTILINE,
)
_STRING = re.compile(_STR)
_VERSION_NEW = re.compile(r"Gem::(?:Version|Platform)\.new\(\s*" + _STR + r"\s*\)\Z")
_GEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_GEM_VERSION = re.compile(r"[0-9][0-9A-Za-z.]*\Z")  # Gem::Version's own shape, "-pre" aside


def _literal(match: re.Match[str]) -> str:
    raw = match.group(1) if match.group(1) is not None else match.group(2)
    return re.sub(r"\\(.)", r"\1", raw)


def _string_value(expr: str) -> str | None:
    """The value of a string-literal expression; None for anything computed."""
    m = _STRING.fullmatch(expr)
    if m is not None:
        return _literal(m)
    m = _VERSION_NEW.match(expr)
    return _literal(m) if m is not None else None


def _string_list(expr: str) -> tuple[str, ...] | None:
    """``["MIT".freeze, "Ruby".freeze]`` or a single string; None for anything computed."""
    one = _string_value(expr)
    if one is not None:
        return (one,)
    body = expr.strip()
    if not (body.startswith("[") and body.endswith("]")):
        return None
    items = [x.strip() for x in body[1:-1].split(",") if x.strip()]
    out = []
    for item in items:
        value = _string_value(item)
        if value is None:
            return None
        out.append(value)
    return tuple(out)


def gem(name: str, version: str, platform: str, found_by: str, evidence: str, *,
        extras: list[tuple[str, str]], licenses: tuple[str, ...] = ()) -> Package:
    """The gem ``evidence`` names; its ``platform`` ("" for pure Ruby) is its arch and a
    purl qualifier."""
    qualifiers = {"platform": platform} if platform and platform != "ruby" else {}
    return Package(type=PackageType.GEM, name=name, version=version,
                   purl=ecosystem.purl(PackageType.GEM, name, version, qualifiers=qualifiers),
                   found_by=found_by, locations=(Location(path=evidence),), licenses=licenses,
                   arch=platform, extras=tuple(sorted(extras)))


def parse_gemspec(text: str, path: str) -> Package:
    """One installed gem from a RubyGems-generated specification."""
    fields: dict[str, str] = {}
    licenses: tuple[str, ...] = ()
    for m in _ASSIGN.finditer(text):
        key, expr = m.group(1), m.group(2)
        if key in ("license", "licenses"):
            found = _string_list(expr)
            if found is not None:
                licenses = lic.normalise_all(found)
            continue
        if key in fields:
            continue  # the first assignment is RubyGems' own; later ones are in conditionals
        value = _string_value(expr)
        if value is None and key == "platform":
            continue  # Gem::Platform::RUBY and friends: a pure-Ruby gem
        if value is None:
            raise FormatError(f"{path}: gem {key} is computed ({expr[:80]!r}), not a literal")
        fields[key] = value.strip()
    name, version = fields.get("name", ""), fields.get("version", "")
    if not name or not version:
        raise FormatError(f"{path}: no {'name' if not name else 'version'} in gemspec")
    if not _GEM_NAME.match(name) or len(name) > MAX_NAME or len(version) > MAX_NAME:
        raise FormatError(f"{path}: implausible gem name or version")
    platform = fields.get("platform", "")
    platform = "" if platform == "ruby" else platform
    extras = [("gem-home", posixpath.dirname(posixpath.dirname(path).removesuffix("/default")))]
    if platform:
        extras.append(("platform", platform))
    if "/specifications/default/" in path:
        extras.append(("default-gem", "true"))  # bundled with Ruby itself
    return gem(name, version, platform, GEMSPEC, path, extras=extras, licenses=licenses)


class GemspecCataloger:
    """``gem-gemspec``: gems installed by RubyGems or Bundler."""

    name = GEMSPEC
    globs = ("/**/specifications/*.gemspec", "/**/specifications/default/*.gemspec")
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        data = entry.content or b""
        if b"\0" in data[:8192]:
            raise FormatError(f"{entry.path}: binary data in a gemspec")
        return (parse_gemspec(data.decode("utf-8", errors="replace"), entry.path),)


# ---------------------------------------------------------------------------------------
# Gemfile.lock

# Bundler's own LockfileParser::NAME_VERSION: the version stops at the first "-", the
# platform ("x86_64-linux", "java") follows it.
_SPEC = re.compile(r"^    (?! )(\S+?)(?: \(([^-)\s]*)(?:-([^)\s]*))?\))?(!)?\s*$")
_INSIDE_GEM = re.compile(r"/gems/[^/]+-\d[^/]*/|/bundler/gems/")
_SECTIONS = frozenset({"GEM", "GIT", "PATH", "PLUGIN SOURCE"})


def _lock_specs(text: str) -> Iterator[tuple[int, str, str, str, dict[str, str]] | Unknown]:
    """(line, name, version, platform, section facts) of every spec line of a Gemfile.lock."""
    section = ""
    facts: dict[str, str] = {}
    in_specs = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if not line[0].isspace():
            section = line.strip()
            facts = {}
            in_specs = False
            continue
        if section not in _SECTIONS:
            continue
        if line.startswith("  ") and not line.startswith("   "):
            key, _, value = line.strip().partition(":")
            if key == "specs":
                in_specs = True
            else:
                facts[key] = value.strip()[:1000]
            continue
        if not in_specs or line.startswith("      "):
            continue  # a spec's own dependencies
        m = _SPEC.match(line)
        if m is None or m.group(2) is None:
            yield Unknown(location=Location(path=""), cataloger=LOCK,
                          reason=f"line {number}: unreadable spec line {line.strip()[:80]!r}")
            continue
        yield number, m.group(1), m.group(2), m.group(3) or "", {"section": section, **facts}


def parse_gemfile_lock(text: str, path: str) -> list[Package | Unknown]:
    out: list[Package | Unknown] = []
    seen: set[tuple[str, str, str]] = set()
    for item in _lock_specs(text):
        if isinstance(item, Unknown):
            out.append(item)
            continue
        _, name, version, platform, facts = item
        if not _GEM_NAME.match(name) or len(name) > MAX_NAME or not version \
                or len(version) > MAX_NAME:
            out.append(Unknown(location=Location(path=""), cataloger=LOCK,
                               reason=f"{name[:80]!r}: implausible gem name or version"))
            continue
        if (name, version, platform) in seen:
            continue
        seen.add((name, version, platform))
        if len(seen) > MAX_PACKAGES:
            raise FormatError(f"{path}: over {MAX_PACKAGES} gems")
        extras = [("declared", "true"), ("lock-section", facts["section"])]
        if platform:
            extras.append(("platform", platform))
        for key in ("remote", "revision", "ref", "branch", "tag"):
            if facts.get(key):
                extras.append((key, facts[key]))
        out.append(gem(name, version, platform, LOCK, path, extras=extras))
    return out


class GemfileLockCataloger:
    """``gem-lock``: gems a Bundler Gemfile.lock declares."""

    name = LOCK
    globs = ("/**/Gemfile.lock",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if _INSIDE_GEM.search(entry.path):
            return ()  # a gem's own lock file, shipped inside the installed gem
        data = entry.content or b""
        if b"\0" in data[:8192]:
            raise FormatError(f"{entry.path}: binary data in a Gemfile.lock")
        found = parse_gemfile_lock(data.decode("utf-8", errors="replace"), entry.path)
        if found and all(isinstance(x, Unknown) for x in found):
            first = found[0]
            assert isinstance(first, Unknown)
            raise FormatError(f"{entry.path}: no readable gem ({first.reason})")
        return found
