"""hullcheck's ignore file (YAML): vulnerability ids to ignore, with a reason and an expiry.

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
from hullcheck.vex.model import IgnoreRule

MAX_IGNORE = 4 << 20
_FIELDS = ("id", "reason", "package", "expires")


def load_ignore(path: Path) -> list[IgnoreRule]:
    data = untrusted.read_file(path, what="ignore file", limit=MAX_IGNORE)
    # every scalar stays a string: ids such as 1e5 or dates are read as written
    doc = untrusted.yaml_document(data, what=str(path), strings_only=True)
    if doc is None or doc == "":
        return []
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
