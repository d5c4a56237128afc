"""What rebuilding on the base's current digest would fix.

    advice = advise(image_findings, base_layers=2, candidate_findings=new_base_findings, ...)
    advice.summary()   # rebuild on Y: fixes 14 vulnerabilities, 3 of them high or critical

Only the image's findings in packages that came from base layers (whose primary evidence
lies in a layer index below the base's layer count) are compared: the application's own
packages do not change when the base does. A finding is *fixed* when the candidate base has
no finding with any of its ids for a package of the same type and name; findings the
candidate has that the old base layers did not are *introduced*. Suppressed findings (VEX,
ignore rules) are left out on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable

from hullcheck.base.model import RebuildAdvice
from hullcheck.match.model import Finding


def from_base_layers(findings: Iterable[Finding], base_layers: int) -> tuple[Finding, ...]:
    return tuple(f for f in findings
                 if f.suppressed is None and f.package.layer is not None
                 and f.package.layer < base_layers)


def _keys(f: Finding) -> set[tuple[str, str, str]]:
    return {(f.package.type.value, f.package.name, i) for i in f.ids}


def advise(image_findings: Iterable[Finding], *, base_layers: int,
           candidate_findings: Iterable[Finding], base: str, candidate: str) -> RebuildAdvice:
    old = from_base_layers(image_findings, base_layers)
    new = tuple(f for f in candidate_findings if f.suppressed is None)
    new_keys = set().union(*(_keys(f) for f in new)) if new else set()
    old_keys = set().union(*(_keys(f) for f in old)) if old else set()
    fixed = tuple(f for f in old if not (_keys(f) & new_keys))
    remaining = tuple(f for f in old if _keys(f) & new_keys)
    introduced = tuple(f for f in new if not (_keys(f) & old_keys))
    return RebuildAdvice(base=base, candidate=candidate, fixed=fixed, remaining=remaining,
                         introduced=introduced)
