"""Path globs as regular expressions: ``*`` and ``?`` stay within one path component,
``**`` crosses components.

One translation serves the file tree's absolute-path globs (``filetree``) and the
registry/repository globs of a base-image trust file (``base.trust``).
"""

from __future__ import annotations

import re


def translate(pattern: str, *, empty_globstar_dir: bool = True) -> str:
    """The regex source of ``pattern`` (unanchored; the caller adds ``\\Z`` or fullmatches).

    With ``empty_globstar_dir`` a ``/**/`` also matches a single ``/`` (``/a/**/b`` matches
    ``/a/b``); without it ``**`` is plain ``.*`` wherever it stands.
    """
    out = []
    i = 0
    while i < len(pattern):
        if empty_globstar_dir and pattern.startswith("/**/", i):
            out.append("/(?:.*/)?")
            i += 4
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
