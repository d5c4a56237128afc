"""Licence strings: which are SPDX expressions, and stable LicenseRef ids for the rest."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from hullcheck import licenses

_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.-]+")
_HAS_REF = re.compile(r"(?i)\b(?:LicenseRef|DocumentRef)-")


@lru_cache(maxsize=4096)
def spdx_expression(text: str) -> str | None:
    """``text`` as a normalised SPDX licence expression ("mit" -> "MIT"), or None.

    ``LicenseRef-`` identifiers count as valid: SPDX allows them anywhere in an expression.
    """
    if not text.strip() or len(text) > 10_000 or not licenses.only_spdx_ids(text, refs=True):
        return None  # (license-expression's aliases would read "GPL" as GPL-1.0-or-later)
    info = licenses.validate(text)
    if info is None:
        return None
    if _HAS_REF.search(text):
        # Kept as written: the library would resolve some refs through its aliases
        # ("LicenseRef-MIT-TC" -> MIT), which is not what the document declared.
        unknown_only = all(e.startswith("Unknown license key") for e in info.errors)
        return " ".join(text.split()) if unknown_only else None
    return str(info.normalized_expression) if not info.errors else None


def license_ref(text: str) -> str:
    """A stable ``LicenseRef-`` id for licence text that is not an SPDX expression."""
    slug = _NOT_IDSTRING.sub("-", text).strip("-.")[:40] or "text"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"LicenseRef-{slug}-{digest}"
