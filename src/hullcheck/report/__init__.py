"""The one rendering room: every report type in every format, for people and machines.

    data = report.render(ScanReport(...), "sarif")       # bytes, ready to write
    report.formats(ScanReport)                          # ("table", "json", "sarif", ...)

One module per format (``table``, ``json``, ``sarif``, ``junit``, ``cyclonedx``), one
function per report type in each; :data:`FORMATS` registers them. A new format is one
module and its lines here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

# Light on purpose (every command imports it to list its formats): the format modules import
# the rooms whose results they render only when they render one.
from hullcheck.misconfig import ConfigReport
from hullcheck.model import Inventory
from hullcheck.report import cyclonedx, json, junit, sarif, table
from hullcheck.report.model import BaseCatalog, BaseReport, PolicyReport, Report, ScanReport
from hullcheck.secrets.model import SecretReport

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Format(Generic[R]):
    """How one report type is written in one format."""

    kind: type[R]
    name: str  # as -o takes it
    write: Callable[[R, int | None], bytes]  # (report, width a table fits: None for any)


def _text(fn: Callable[..., str]) -> Callable[[R, int | None], bytes]:
    return lambda report, width: fn(report, width=width).encode()


def _json(fn: Callable[[R], Any]) -> Callable[[R, int | None], bytes]:
    return lambda report, width: json.dump(fn(report))


def _bytes(fn: Callable[[R], bytes]) -> Callable[[R, int | None], bytes]:
    return lambda report, width: fn(report)


FORMATS: tuple[Format[Any], ...] = (
    Format(ScanReport, "table", _text(table.scan)),
    Format(ScanReport, "json", _json(json.scan)),
    Format(ScanReport, "sarif", _json(sarif.scan)),
    Format(ScanReport, "cyclonedx-json", _json(cyclonedx.scan)),
    Format(SecretReport, "table", _text(table.secrets)),
    Format(SecretReport, "json", _json(json.secrets)),
    Format(ConfigReport, "table", _text(table.config)),
    Format(ConfigReport, "json", _json(json.config)),
    Format(PolicyReport, "table", _text(table.decision)),
    Format(PolicyReport, "json", _json(json.decision)),
    Format(PolicyReport, "sarif", _json(sarif.decision)),
    Format(PolicyReport, "junit", _bytes(junit.decision)),
    Format(BaseReport, "table", _text(table.base)),
    Format(BaseReport, "json", _json(json.base)),
    Format(BaseCatalog, "table", _text(table.catalog)),
    Format(BaseCatalog, "json", _json(json.catalog)),
    Format(Inventory, "table", _text(table.inventory)),  # other inventory formats: sbom.encode
)


def formats(kind: type[Report]) -> tuple[str, ...]:
    """The formats ``kind`` is written in, in registration order."""
    return tuple(f.name for f in FORMATS if f.kind is kind)


def render(report: Report, fmt: str, *, width: int | None = None) -> bytes:
    """``report`` in format ``fmt``; a table fits ``width`` columns (a terminal's) when it
    can without cutting words, else is as wide as it must be (default: 140)."""
    for f in FORMATS:
        if f.kind is type(report) and f.name == fmt:
            return f.write(report, width)
    raise ValueError(f"no {fmt!r} format for a {type(report).__name__}")


__all__ = ["FORMATS", "BaseCatalog", "BaseReport", "Format", "PolicyReport", "Report",
           "ScanReport", "formats", "render"]
