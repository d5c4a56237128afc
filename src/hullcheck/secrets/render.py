"""Secret reports as JSON (``findings`` list, ``skipped`` counts) and as a terminal table.
Only redacted matches ever reach here."""

from __future__ import annotations

import io
import json
from typing import Any

from hullcheck.model import Layer
from hullcheck.secrets.model import SecretFinding, SecretReport

FORMATS = ("table", "json")


def _layer(layer: Layer | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {"index": layer.index, "digest": layer.digest, "diffId": layer.diff_id,
            "createdBy": layer.created_by}


def finding_json(f: SecretFinding) -> dict[str, Any]:
    return {
        "ruleId": f.rule_id,
        "title": f.title,
        "severity": f.severity.value,
        "origin": f.origin.value,
        "path": f.path,
        "line": f.line,
        "visible": f.visible,
        "layer": _layer(f.layer),
        "deletedBy": _layer(f.deleted_by),
        "match": f.match,
    }


def to_json(report: SecretReport) -> dict[str, Any]:
    src = report.source
    return {
        "source": {"name": src.name, "kind": src.kind, "manifestDigest": src.manifest_digest,
                   "configDigest": src.config_digest},
        "findings": [finding_json(f) for f in report.findings],
        "skipped": {"binary": report.skipped.binary, "tooLarge": report.skipped.too_large,
                    "allowlisted": report.skipped.allowlisted},
        "scanned": {"files": report.files_scanned, "bytes": report.bytes_scanned},
    }


def table(report: SecretReport, *, width: int | None = None) -> str:
    # rich costs ~25 ms to import: only table output pays it, not every image read that
    # redacts its history through this package.
    from rich.console import Console
    from rich.table import Table

    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("RULE", "SEVERITY", "PATH", "LINE", "LAYER", "MATCH"):
        t.add_column(col, overflow="fold")
    for f in report.findings:
        layer = "-" if f.layer is None else str(f.layer.index)
        if not f.visible:
            layer += " (deleted" + ("" if f.deleted_by is None else f" in {f.deleted_by.index}") + ")"
        t.add_row(f.rule_id, f.severity.value, f.path, str(f.line), layer, f.match)
    buf = io.StringIO()
    console = Console(file=buf, width=width or 140, color_system=None, highlight=False)
    if report.findings:
        console.print(t)
    hidden = sum(1 for f in report.findings if not f.visible)
    summary = f"{len(report.findings)} secret(s)"
    if hidden:
        summary += (f", {hidden} in files a later layer deleted or replaced (still extractable "
                    "from the image)")
    console.print(f"\n{report.source.name}: {summary}", soft_wrap=True)
    s = report.skipped
    console.print(f"scanned {report.files_scanned} files ({report.bytes_scanned} bytes); skipped "
                  f"{s.binary} binary, {s.too_large} too large, {s.allowlisted} allow-listed",
                  soft_wrap=True)
    return buf.getvalue()


def render(report: SecretReport, fmt: str) -> bytes:
    if fmt == "table":
        return table(report).encode()
    if fmt == "json":
        return json.dumps(to_json(report), indent=2, ensure_ascii=False).encode() + b"\n"
    raise ValueError(fmt)
