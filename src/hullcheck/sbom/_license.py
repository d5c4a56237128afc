"""Licence strings: which are SPDX expressions, and stable LicenseRef ids for the rest."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from hullcheck import licenses

_LICENSE_REF = re.compile(r"(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+")
_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.-]+")


@lru_cache(maxsize=4096)
def spdx_expression(text: str) -> str | None:
    """``text`` as a normalised SPDX licence expression ("mit" -> "MIT"), or None.

    ``LicenseRef-`` identifiers count as valid: SPDX allows them anywhere in an expression.
    """
    if not text.strip() or len(text) > 10_000:
        return None
    info = licenses.validate(text)
    if info is None:
        return None
    if not info.errors:
        return str(info.normalized_expression)
    refs_only = info.invalid_symbols and all(
        _LICENSE_REF.fullmatch(str(s)) for s in info.invalid_symbols
    )
    unknown_only = all(e.startswith("Unknown license key") for e in info.errors)
    return " ".join(text.split()) if refs_only and unknown_only else None


def license_ref(text: str) -> str:
    """A stable ``LicenseRef-`` id for licence text that is not an SPDX expression."""
    slug = _NOT_IDSTRING.sub("-", text).strip("-.")[:40] or "text"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"LicenseRef-{slug}-{digest}"
