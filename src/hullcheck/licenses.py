"""The SPDX licence table (``license-expression``), built once for every room that reads
licences: the catalogers, the SBOM encoders and the policy's licence lists.

Building the table costs tens of milliseconds, so it is built on first use, not on import.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def licensing() -> Any:  # license_expression.Licensing
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def validate(text: str) -> Any | None:  # license_expression.ExpressionInfo
    """``license-expression``'s (strict) validation of ``text``; None when the parser raises
    (it raises assorted errors on odd input). Callers bound the length they hand it."""
    try:
        return licensing().validate(text)
    except Exception:  # license-expression raises assorted errors on odd input
        return None
