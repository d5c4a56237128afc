"""Reading the copied comparison vectors in tests/fixtures/versions/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "versions"
OPS = {"<": -1, "=": 0, ">": 1}

# scheme -> vector files (relative to FIXTURES)
FILES: dict[str, tuple[str, ...]] = {
    "dpkg": ("osv-scalibr/debian-versions.txt", "osv-scalibr/debian-versions-generated.txt"),
    "apk": ("osv-scalibr/alpine-versions.txt", "osv-scalibr/alpine-versions-generated.txt"),
    "rpm": ("osv-scalibr/redhat-versions.txt",),
    "pep440": ("osv-scalibr/pypi-versions.txt", "osv-scalibr/pypi-versions-generated.txt"),
    "maven": ("osv-scalibr/maven-versions.txt", "osv-scalibr/maven-versions-generated.txt"),
    "nuget": ("osv-scalibr/nuget-versions.txt",),
    "rubygems": (
        "osv-scalibr/rubygems-versions.txt",
        "osv-scalibr/rubygems-versions-generated.txt",
    ),
    "packagist": (
        "osv-scalibr/packagist-versions.txt",
        "osv-scalibr/packagist-versions-generated.txt",
        "osv.dev/packagist-test-cases.txt",
    ),
    "semver": ("osv-scalibr/semver-versions.txt",),
    "go": ("osv-scalibr/semver-versions.txt",),
}


@dataclass(frozen=True, slots=True)
class Vector:
    file: str
    lineno: int
    a: str
    op: str
    b: str

    @property
    def line(self) -> str:
        return f"{self.a} {self.op} {self.b}"


def _lines(path: Path) -> list[tuple[int, str]]:
    out = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith(("# ", "//")):
            continue
        out.append((n, raw))
    return out


def vectors(scheme: str) -> list[Vector]:
    out = []
    for name in FILES[scheme]:
        for n, line in _lines(FIXTURES / name):
            a, op, b = line.split(" ")
            out.append(Vector(name, n, a, op, b))
    return out


def _listed(name: str) -> set[tuple[str, str]]:
    out = set()
    for raw in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if raw.strip() and not raw.startswith("#"):
            scheme, rest = raw.split(" ", 1)
            out.add((scheme, rest))
    return out


def expected_invalid() -> set[tuple[str, str]]:
    return _listed("expected-invalid.txt")


def expected_wrong() -> set[tuple[str, str]]:
    return _listed("expected-wrong.txt")


def version_list(name: str) -> list[str]:
    return [
        line.strip()
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
