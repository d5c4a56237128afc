"""Well-known programs installed outside any package manager (``COPY``, ``curl | tar``,
built from source), recognised by the version string compiled into them.

A small rule table: the file's base name selects the rules (so a program that merely
*mentions* another one's banner is not reported as it), and a byte regex with a
``version`` group reads the version. Each package carries a generic purl and the CPEs
advisories for these programs are filed under (NVD matches them by CPE).

This cataloger cannot know whether an OS package owns the file; it reports the file
in ``Package.files`` and the runner drops binary-version packages whose file an OS
package owns (that is the package manager's record, and a better one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hullcheck import ecosystem
from hullcheck.catalog.base import Env
from hullcheck.catalog.elf import EXECUTABLE_GLOBS, Data, executable_format, search
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType

GLOBS = (*EXECUTABLE_GLOBS, "/usr/lib/postgresql/*/bin/postgres")
_V = rb"(?P<version>\d+\.\d+\.\d+)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str  # package name, purl pkg:generic/<name>
    files: re.Pattern[str]  # base names this rule applies to (full match)
    patterns: tuple[re.Pattern[bytes], ...]  # first match wins; group "version"
    cpes: tuple[str, ...]  # "vendor:product"
    # Python: the file name gives the minor version, the content only "3.11.7" between NULs.
    from_file_name: bool = False


def _rx(*patterns: bytes) -> tuple[re.Pattern[bytes], ...]:
    return tuple(re.compile(p) for p in patterns)


RULES: tuple[Rule, ...] = (
    Rule(name="busybox", files=re.compile(r"busybox"),
         patterns=_rx(rb"BusyBox\s+v" + _V), cpes=("busybox:busybox",)),
    Rule(name="openssl", files=re.compile(r"openssl|libcrypto\.so.*"),
         patterns=_rx(rb"OpenSSL (?P<version>\d+\.\d+\.\d+[a-z]{0,2})(?:-[\w.]+)? +"
                       rb"\d{1,2} [A-Z][a-z]{2} \d{4}"),
         cpes=("openssl:openssl",)),
    Rule(name="node", files=re.compile(r"node"),
         patterns=_rx(rb"node\.js/v" + _V), cpes=("nodejs:node.js",)),
    Rule(name="python", files=re.compile(r"python(?P<minor>\d+\.\d+)|"
                                         r"libpython(?P<libminor>\d+\.\d+)[a-z]?\.so.*"),
         patterns=(), cpes=("python_software_foundation:python", "python:python"),
         from_file_name=True),
    Rule(name="curl", files=re.compile(r"curl|libcurl(?:-gnutls|-nss)?\.so.*"),
         patterns=_rx(rb"libcurl/" + _V, rb"\x00curl " + _V), cpes=("haxx:curl",)),
    Rule(name="redis", files=re.compile(r"redis-server"),
         patterns=_rx(rb"[^\d]" + _V + rb"buildkitsandbox-\d+",
                      rb"[^\d]" + _V + rb"\w{12}-\d+",
                      rb"Redis version " + _V),
         cpes=("redis:redis", "redislabs:redis")),
    Rule(name="nginx", files=re.compile(r"nginx"),
         patterns=_rx(rb"nginx/" + _V), cpes=("f5:nginx", "nginx:nginx")),
    Rule(name="postgresql", files=re.compile(r"postgres"),
         patterns=_rx(rb"(?:\x00|\?)PostgreSQL (?P<version>\d+(?:\.\d+){0,2}"
                      rb"(?:alpha\d|beta\d|rc\d)?)"),
         cpes=("postgresql:postgresql",)),
    Rule(name="go", files=re.compile(r"go"),
         patterns=_rx(rb"go(?P<version>1\.\d+(?:\.\d+|beta\d+|rc\d+)?)\x00"),
         cpes=("golang:go",)),
)


def _python_patterns(minor: str) -> tuple[re.Pattern[bytes], ...]:
    m = re.escape(minor.encode())
    return _rx(rb"\x00(?P<version>" + m + rb"\.\d+(?:(?:a|b|rc)\d+)?)\x00")


def names(base: str) -> bool:
    """Whether a rule applies to files named ``base`` (a library it would read)."""
    return any(rule.files.fullmatch(base) for rule in RULES)


def selection(base: str) -> tuple[tuple[str, str], ...]:
    """The rules (with the Python minor version the name gives) a file named ``base`` is
    searched with: two names with the same selection find the same in the same bytes."""
    out = []
    for rule in RULES:
        fm = rule.files.fullmatch(base)
        if fm is not None:
            minor = (fm.group("minor") or fm.group("libminor")) if rule.from_file_name else ""
            out.append((rule.name, minor or ""))
    return tuple(out)


def identify(base: str, data: Data) -> tuple[Rule, str, str] | None:
    """(rule, version, matched text) of the first rule whose file name and pattern match."""
    for rule in RULES:
        fm = rule.files.fullmatch(base)
        if fm is None:
            continue
        patterns = rule.patterns
        if rule.from_file_name:
            minor = fm.group("minor") or fm.group("libminor")
            patterns = _python_patterns(minor)
        for rx in patterns:
            m = search(rx, data)
            if m is not None:
                text = m.group(0).strip(b"\x00?").decode("ascii", "replace")
                return rule, m.group("version").decode("ascii"), text[:80]
    return None


class BinaryVersionCataloger:
    name = "binary-version"
    globs = GLOBS
    needs: tuple[str, ...] = ()
    sections: tuple[tuple[str, str], ...] = ()  # a version string can be in any section

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        return binary_packages(entry.content or b"", entry.path, self.name)

    def parse_binary(self, data: Data, path: str) -> list[Package]:
        return binary_packages(data, path, self.name)

    # What it finds depends on the file's name too (a hard link's may differ): the binary
    # sink asks these.
    @staticmethod
    def same_for(base: str, other: str) -> bool:
        """Whether files named ``base`` and ``other`` are searched alike."""
        return base == other or selection(base) == selection(other)

    @staticmethod
    def selects(base: str) -> bool:
        """Whether a file named ``base`` is searched at all."""
        return names(base)


def binary_packages(data: Data, path: str,
                    found_by: str = BinaryVersionCataloger.name) -> list[Package]:
    """The well-known program the executable ``data`` at ``path`` is, by its version string;
    [] when none is recognised."""
    if executable_format(data) is None:
        return []
    found = identify(path.rsplit("/", 1)[-1], data)
    if found is None:
        return []
    rule, version, text = found
    return [Package(
        type=PackageType.BINARY, name=rule.name, version=version,
        purl=ecosystem.purl(PackageType.BINARY, rule.name, version),
        found_by=found_by, locations=(Location(path=path),), files=(path,),
        cpes=tuple(f"cpe:2.3:a:{vp}:{version}:*:*:*:*:*:*:*" for vp in rule.cpes),
        extras=(("evidence", "version-string"), ("matched", text)),
    )]
