"""hullcheck's ignore file (YAML): vulnerability ids to ignore, with a reason and an expiry.
Trivy's and Grype's ignore files are read too (``vex.foreign``).

    ignore:
      - id: CVE-2018-18074            # or any alias
        reason: requests is only used without redirects
        package: pkg:pypi/requests    # optional: a name or a purl
        expires: 2025-06-30           # optional; afterwards the rule no longer applies
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.vex import foreign
from hullcheck.vex.model import IgnoreRule

MAX_IGNORE = 4 << 20
_FIELDS = ("id", "reason", "package", "expires")


def load_ignore(path: Path) -> list[IgnoreRule]:
    """The rules of hullcheck's ignore file, or of Trivy's (``.trivyignore``, text or YAML)
    or Grype's (``.grype.yaml``): told apart by name, then by content (``vex.foreign``)."""
    data = untrusted.read_file(path, what="ignore file", limit=MAX_IGNORE)
    if path.name.endswith(("trivyignore", ".txt")):
        return foreign.trivy_text(_text(data, path), str(path))
    # every scalar stays a string: ids such as 1e5 or dates are read as written
    doc = untrusted.yaml_document(data, what=str(path), strings_only=True)
    if doc is None or doc == "":
        return []
    if isinstance(doc, str) and not path.name.endswith((".yaml", ".yml")):
        return foreign.trivy_text(_text(data, path), str(path))  # Trivy's text, another name
    if isinstance(doc, dict) and foreign.is_trivy_yaml(doc):
        return foreign.trivy_yaml(doc, str(path))
    if isinstance(doc, dict) and foreign.is_grype(doc, path.name):
        return foreign.grype(doc, str(path))
    items = doc.get("ignore", []) if isinstance(doc, dict) else None
    if items == "":  # "ignore:" with nothing under it
        items = []
    if not isinstance(items, list):
        raise FormatError(f"{path}: expected a mapping with an 'ignore' list")
    return [_rule(item, f"{path}: ignore[{i}]", str(path)) for i, item in enumerate(items)]


def _rule(item: Any, where: str, source: str) -> IgnoreRule:
    if not isinstance(item, dict):
        raise FormatError(f"{where} must be a mapping")
    unknown = set(item) - set(_FIELDS)
    if unknown:
        raise FormatError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for key, value in item.items():
        if not isinstance(value, str):
            kind = "a list" if isinstance(value, list) else "a mapping"
            raise FormatError(f"{where}: {key} must be a single value, not {kind}")
    if not item.get("id") or not item.get("reason"):
        raise FormatError(f"{where}: 'id' and 'reason' are required")
    text = item.get("expires", "")
    try:
        expires = date.fromisoformat(text) if text else None
    except ValueError:
        raise FormatError(f"{where}: expires {text[:40]!r} is not a YYYY-MM-DD date") from None
    return IgnoreRule(id=item["id"], reason=item["reason"], package=item.get("package", ""),
                      expires=expires, source=source)


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not UTF-8 text") from None
