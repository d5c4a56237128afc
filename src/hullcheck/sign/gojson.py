"""JSON bytes as Go's ``encoding/json`` writes them, so documents hullcheck produces are the
bytes cosign would produce for the same values.

Go writes compact JSON, object keys of structs in declaration order (callers build dicts in
that order) and of maps sorted, UTF-8 unescaped except ``<``, ``>``, ``&``, U+2028 and
U+2029, which become ``\\u003c``-style escapes. These documents are signed or hashed as bytes;
nothing is ever re-serialised before verification.
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def dumps(obj: Any) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # These characters can only occur inside JSON strings, so replacing them is safe.
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode("utf-8")


def sorted_map(mapping: dict[str, Any]) -> dict[str, Any]:
    """A Go ``map[string]...``: keys in byte order."""
    return {k: mapping[k] for k in sorted(mapping)}
