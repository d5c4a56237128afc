"""The keyword prefilter: which rules can match a buffer, in one pass over it.

Every rule declares lower-case keywords; a rule's regular expression runs on a file only
when one of its keywords occurs in it (in any case). Finding the keywords is the one
pass over every byte, so it uses the fastest engine available:

* ``hyperscan`` (PyPI wheels, x86-64): all keywords in one caseless literal database;
* ``re2`` (``google-re2``, PyPI wheels): a caseless ``re2.Set``, one DFA for all;
* otherwise plain Python: ``bytes.lower()`` once, then ``in`` per keyword.

Fastest first; ``bench/secret_scan.py --engine`` compares them on a real image.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

_hs: Any
_re2: Any
try:  # optional: the fastest multi-literal engine
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the machine
    _hs = None
try:  # optional: one DFA for the whole keyword set
    import re2 as _re2  # type: ignore[import-untyped,no-redef,unused-ignore]
except ImportError:  # pragma: no cover - depends on the machine
    _re2 = None

ENGINES = ("hyperscan", "re2", "python")


def available() -> tuple[str, ...]:
    """The engines importable here, fastest first; "python" always is."""
    have = {"hyperscan": _hs is not None, "re2": _re2 is not None, "python": True}
    return tuple(e for e in ENGINES if have[e])


class Prefilter:
    """``hits(data)`` → indices of the keywords (as given) present in ``data``, any case."""

    def __init__(self, keywords: Sequence[str], engine: str | None = None) -> None:
        self.keywords = tuple(k.lower().encode() for k in keywords)
        if engine is None:
            engine = available()[0]
        if engine not in available():
            raise ValueError(f"secret engine {engine!r} is not available here")
        self.engine = engine
        self._local = threading.local()
        self._db: Any = None
        if engine == "hyperscan" and self.keywords:
            assert _hs is not None
            db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
            db.compile(
                expressions=[re.escape(k) for k in self.keywords],
                ids=list(range(len(self.keywords))),
                flags=[_hs.HS_FLAG_CASELESS | _hs.HS_FLAG_SINGLEMATCH] * len(self.keywords),
            )
            self._db = db
        self._set: Any = None
        if engine == "re2" and self.keywords:
            assert _re2 is not None
            # A Set reports every pattern that matches anywhere (an alternation's findall
            # would let "_password" hide "password").
            rset = _re2.Set.SearchSet(_re2.Options())
            for k in self.keywords:
                rset.Add(b"(?i)" + re.escape(k))
            rset.Compile()
            self._set = rset

    def hits(self, data: bytes) -> set[int]:
        if not self.keywords:
            return set()
        if self._db is not None:
            return self._hits_hyperscan(data)
        if self._set is not None:
            return set(self._set.Match(data) or ())
        lowered = data.lower()
        return {i for i, k in enumerate(self.keywords) if k in lowered}

    def _hits_hyperscan(self, data: bytes) -> set[int]:
        assert _hs is not None
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # scratch space is per thread
            scratch = _hs.Scratch(self._db)
            self._local.scratch = scratch
        found: set[int] = set()

        def on_match(id_: int, start: int, end: int, flags: int, ctx: object) -> None:
            found.add(id_)

        self._db.scan(data, match_event_handler=on_match, scratch=scratch)
        return found
