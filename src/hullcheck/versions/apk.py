"""Alpine apk versions: ``digits{.digits}...{letter}{_suffix{digits}}...{~hash}{-rN}``.

Follows apk-tools' current ``version.c`` (token rules and comparison), with one documented
extension: apk-tools 2.x, which every Alpine 3.x release ships, also accepts digits right
after the letter (``6.6.2p1``); those digits are a further numeric component.

Tokens compare in order. Numeric components after a dot compare as integers unless either
has a leading zero, then as strings (``1.02 < 1.1``). Suffixes order
``_alpha < _beta < _pre < _rc <`` (none) ``< _cvs < _svn < _git < _hg < _p``. When one
version runs out or the token kinds differ, a pre-release suffix loses, otherwise the
version whose next token is "further along" the grammar (end < ``-r`` < ``~hash`` < suffix
number < suffix < letter < ``.digits``) is the lesser one. Upper-case letters, unknown
suffixes, ``-`` not followed by ``r``, and empty number components are invalid.
"""

from __future__ import annotations

import functools

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text

NAME = "apk"

# Token kinds, in grammar order (apk-tools' enum order).
_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _END = range(8)
_PRE = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4}
_POST = {"cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}
_NONE = 5
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")


def _rank(kind: int, suffix: int) -> int:
    """Order of token kinds when two versions disagree on the kind of their next token."""
    if kind == _SUFFIX and suffix < _NONE:
        return -1
    return _END - kind


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> tuple[tuple[int, object], ...]:
    check_text(NAME, v)
    n = len(v)

    def digits(i: int) -> int:
        j = i
        while j < n and v[j] in _DIGITS:
            j += 1
        if j == i:
            raise InvalidVersion(NAME, v, f"expected digits at position {i}")
        return j

    j = digits(0)
    out: list[tuple[int, object]] = [(_rank(_INITIAL, 0), int(v[:j]))]
    kind, i = _INITIAL, j
    while i < n:
        c = v[i]
        if c in _LOWER:
            if kind > _DIGIT:
                raise InvalidVersion(NAME, v, f"letter {c!r} not allowed here")
            kind = _LETTER
            out.append((_rank(kind, 0), ord(c)))
            i += 1
        elif c == "." or c in _DIGITS:
            if c == ".":
                if kind > _DIGIT:
                    raise InvalidVersion(NAME, v, "'.' not allowed here")
                i += 1
            elif kind not in (_LETTER, _SUFFIX):  # digits right after a letter: apk 2.x
                raise InvalidVersion(NAME, v, "digits not allowed here")
            kind = _SUFFIX_NO if kind == _SUFFIX else _DIGIT
            j = digits(i)
            text = v[i:j]
            if kind == _DIGIT:
                value: object = (0, text) if text[0] == "0" else (1, int(text))
            else:
                value = int(text)
            out.append((_rank(kind, 0), value))
            i = j
        elif c == "_":
            if kind > _SUFFIX_NO:
                raise InvalidVersion(NAME, v, "suffix not allowed here")
            j = i + 1
            while j < n and v[j] in _LOWER:
                j += 1
            name = v[i + 1 : j]
            suffix = _PRE.get(name) or _POST.get(name)
            if suffix is None:
                raise InvalidVersion(NAME, v, f"unknown suffix {name!r}")
            kind = _SUFFIX
            out.append((_rank(kind, suffix), suffix))
            i = j
        elif c == "~":
            if kind >= _HASH:
                raise InvalidVersion(NAME, v, "'~' not allowed here")
            j = i + 1
            while j < n and v[j] in _HEX:
                j += 1
            if j == i + 1:
                raise InvalidVersion(NAME, v, "empty commit hash after '~'")
            kind = _HASH
            out.append((_rank(kind, 0), v[i + 1 : j]))
            i = j
        elif c == "-":
            if kind >= _REVISION or not v.startswith("-r", i):
                raise InvalidVersion(NAME, v, "'-' must start the final -rN")
            kind = _REVISION
            j = digits(i + 2)
            out.append((_rank(kind, 0), int(v[i + 2 : j])))
            i = j
        else:
            raise InvalidVersion(NAME, v, f"invalid character {c!r}")
    out.append((_rank(_END, 0), 0))
    return tuple(out)


SCHEME = Scheme(name=NAME, key=key, summary="Alpine apk-tools version ordering")
