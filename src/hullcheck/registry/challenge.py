"""``WWW-Authenticate`` challenges (RFC 7235) as registries send them.

``Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"``
(Docker's token authentication) or ``Basic realm="Registry"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCHEME_RE = re.compile(r"\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+|$)")
_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic", ...
    params: tuple[tuple[str, str], ...] = ()  # (lower-case name, value)

    def get(self, name: str) -> str:
        for key, value in self.params:
            if key == name:
                return value
        return ""

    @property
    def realm(self) -> str:
        return self.get("realm")


def parse_challenges(header: str) -> tuple[Challenge, ...]:
    """All challenges in one header value; unknown syntax yields what could be read."""
    out: list[Challenge] = []
    pos = 0
    while pos < len(header):
        m = _SCHEME_RE.match(header, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: list[tuple[str, str]] = []
        while pos < len(header):
            p = _PARAM_RE.match(header, pos)
            # A token followed by whitespace and no '=' starts the next challenge.
            if not p or p.end() == pos:
                break
            value = p.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params.append((p.group(1).lower(), value))
            pos = p.end()
        out.append(Challenge(scheme=scheme, params=tuple(params)))
        while pos < len(header) and header[pos] in ", ":
            pos += 1
    return tuple(out)


def pick_challenge(header: str) -> Challenge | None:
    """The challenge to answer: Bearer when offered, else Basic, else None."""
    challenges = parse_challenges(header)
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None
