"""The SPDX licence table (``license-expression``), built once for every room that reads
licences: the catalogers, the SBOM encoders and the policy's licence lists.

Building the table costs tens of milliseconds, so it is built on first use, not on import.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any


@functools.cache
def licensing() -> Any:  # license_expression.Licensing
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@functools.cache
def spdx_ids() -> frozenset[str]:
    """Every SPDX licence and exception id license-expression knows, lower-cased, with the
    deprecated short forms of the ``-only`` and ``-or-later`` ids (``gpl-2.0``, ``gpl-2.0+``)."""
    ids: set[str] = set()
    for key in licensing().known_symbols:
        k = key.lower()
        ids.add(k)
        if k.endswith("-only"):
            ids.add(k.removesuffix("-only"))
        if k.endswith("-or-later"):
            ids.add(k.removesuffix("-or-later") + "+")
    return frozenset(ids)


_OPERATORS = frozenset({"and", "or", "with"})
# SPDX 2.3 Annex D: ["DocumentRef-" idstring ":"] "LicenseRef-" idstring, idstring [A-Za-z0-9.-]+
LICENSE_REF = re.compile(r"(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+")


def only_spdx_ids(text: str, *, refs: bool = False) -> bool:
    """True when every word of ``text`` is an SPDX id (any case) or an operator, and with
    ``refs`` also when it is a ``LicenseRef-``/``DocumentRef-`` id.

    license-expression's table also holds *aliases* (scancode keys): on its own it reads
    plain ``GPL`` as GPL-1.0-or-later and ``LicenseRef-MIT-TC`` as MIT, claims the package
    never made. Checking the words first keeps such text as text."""
    words = text.replace("(", " ").replace(")", " ").split()
    ids = spdx_ids()
    return all(
        w.lower() in _OPERATORS or w.lower() in ids
        or (refs and LICENSE_REF.fullmatch(w) is not None)
        for w in words
    )


_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.-]+")
MAX_REF = 64  # characters of a name kept in its LicenseRef id; a longer one gets a hash


def license_ref(name: str) -> str:
    """``LicenseRef-<name>`` for a licence name that is no SPDX id (``public-domain`` ->
    ``LicenseRef-public-domain``): what SPDX allows for any other licence, so an expression
    naming it still parses. Characters an id cannot hold become ``-``; a name over ``MAX_REF``
    characters is cut and given 8 hex digits of its SHA-256, so distinct names stay distinct."""
    slug = _NOT_IDSTRING.sub("-", name).strip("-.") or "unnamed"
    if len(slug) > MAX_REF:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        slug = f"{slug[:MAX_REF].rstrip('-.')}-{digest}"
    return f"LicenseRef-{slug}"


def validate(text: str) -> Any | None:  # license_expression.ExpressionInfo
    """``license-expression``'s (strict) validation of ``text``; None when the parser raises
    (it raises assorted errors on odd input). Callers bound the length they hand it."""
    try:
        return licensing().validate(text)
    except Exception:  # license-expression raises assorted errors on odd input
        return None


# Common licence names that are not SPDX ids, as package metadata writes them (Python
# "License:" fields, RPM spec files, Maven poms, gemspecs). Only unambiguous names: plain
# "BSD" or "GPL" say too little and stay text.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(("apache 2.0", "apache 2", "apache-2", "apache2", "apache license 2.0",
                     "apache license, version 2.0", "apache license version 2.0",
                     "apache software license 2.0", "apache software license, version 2.0",
                     "the apache software license, version 2.0",
                     "the apache license, version 2.0", "asl 2.0", "apache v2",
                     "apache license v2.0", "apache-2.0 license"), "Apache-2.0"),
    **dict.fromkeys(("mit license", "the mit license", "mit/x11", "the mit license (mit)",
                     "mit license (mit)", "expat license"), "MIT"),
    **dict.fromkeys(("new bsd license", "bsd 3-clause", "bsd-3", "3-clause bsd",
                     "3-clause bsd license", "bsd 3-clause license", "modified bsd license",
                     "the 3-clause bsd license", "revised bsd license"), "BSD-3-Clause"),
    **dict.fromkeys(("simplified bsd license", "bsd 2-clause", "bsd-2", "2-clause bsd",
                     "2-clause bsd license", "bsd 2-clause license", "freebsd license"),
                    "BSD-2-Clause"),
    **dict.fromkeys(("gplv2", "gpl v2", "gpl-2", "gpl 2", "gpl version 2"), "GPL-2.0-only"),
    **dict.fromkeys(("gplv2+", "gpl v2+", "gpl-2+", "gpl 2+", "gplv2 or later"),
                    "GPL-2.0-or-later"),
    **dict.fromkeys(("gplv3", "gpl v3", "gpl-3", "gpl 3", "gpl version 3"), "GPL-3.0-only"),
    **dict.fromkeys(("gplv3+", "gpl v3+", "gpl-3+", "gpl 3+", "gplv3 or later"),
                    "GPL-3.0-or-later"),
    **dict.fromkeys(("lgplv2.1", "lgpl v2.1", "lgpl-2.1", "lgpl 2.1"), "LGPL-2.1-only"),
    **dict.fromkeys(("lgplv2+", "lgplv2.1+", "lgpl-2.1+", "lgpl v2.1+"), "LGPL-2.1-or-later"),
    **dict.fromkeys(("lgplv3", "lgpl v3", "lgpl-3", "lgpl 3"), "LGPL-3.0-only"),
    **dict.fromkeys(("lgplv3+", "lgpl-3+", "lgpl v3+"), "LGPL-3.0-or-later"),
    **dict.fromkeys(("mpl 2.0", "mpl-2", "mpl v2", "mozilla public license 2.0",
                     "mozilla public license 2.0 (mpl 2.0)", "mpl2"), "MPL-2.0"),
    **dict.fromkeys(("isc license", "isc license (iscl)"), "ISC"),
    **dict.fromkeys(("python software foundation license", "psf license", "psf", "psfl",
                     "python software foundation license version 2"), "PSF-2.0"),
    **dict.fromkeys(("zlib license", "zlib/libpng", "zlib/libpng license"), "Zlib"),
    **dict.fromkeys(("the unlicense", "unlicense license"), "Unlicense"),
    **dict.fromkeys(("eclipse public license 2.0", "epl 2.0", "epl-2", "epl v2.0"), "EPL-2.0"),
    **dict.fromkeys(("eclipse public license 1.0", "epl 1.0", "epl-1", "epl v1.0"), "EPL-1.0"),
    **dict.fromkeys(("artistic 2.0", "artistic license 2.0"), "Artistic-2.0"),
    **dict.fromkeys(("cc0", "cc0 1.0", "cc0 1.0 universal"), "CC0-1.0"),
}


def alias(name: str) -> str | None:
    """The SPDX id of a well-known licence name that is not one ("Apache 2.0" → Apache-2.0),
    or None."""
    return _ALIASES.get(" ".join(name.lower().split()))
