"""Custom rules in CEL (``cel-python``) over the evidence as plain maps and lists.

Variables (each ``null`` when that evidence was not gathered):

    image            {ref, digest, configDigest}
    packages         [{name, version, type, purl, licenses, layer, visible}]
    vulnerabilities  [{id, aliases, package, version, purl, severity, status, fixed, kev,
                       malicious, ageDays, suppressed}]
    secrets          [{rule, severity, path, layer, visible}]
    config           [{id, severity, title}]
    signatures       [{keyFingerprint, verified, identity, issuer}]   (identity: keyless)
    attestations     [{predicateType, keyFingerprint, verified, identity, issuer}]
    base             {name, trusted, eol, daysBehind}
    severityRank     {"critical": 5, ...}: compare severities by rank

Every evaluation has a budget of :data:`STEP_BUDGET` steps (one step: one node of the
expression's syntax tree evaluated, the unit cel-python's interpreter works in). cel-python
0.5 has no cost limit of its own, and a Python thread cannot be stopped from outside, so
the interpreter counts its own steps and stops itself; the command's deadline is checked on
the way. ``policy.celcost`` estimates the same count before a rule is ever run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from hullcheck import deadline
from hullcheck.errors import HullcheckError
from hullcheck.model import Severity
from hullcheck.policy.evidence import Evidence

STEP_BUDGET = 1_000_000  # about 5-10 s of cel-python on one core: a rule, not a workload
_DEADLINE_EVERY = 1024  # steps between deadline checks


class CelSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One evaluation: ``value`` True/False, or None with ``error`` saying why."""

    value: bool | None
    error: str = ""
    steps: int = 0
    over_budget: bool = False  # stopped after ``steps`` steps: the budget ran out


class _OverBudget(Exception):
    """Not a CELEvalError on purpose: cel-python's macros swallow those."""


class _Meter:
    """Steps taken by one evaluation, shared by the evaluators of its nested macros."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.budget:
            raise _OverBudget
        if self.steps % _DEADLINE_EVERY == 0:
            deadline.check("evaluating a CEL rule")


def _env() -> Any:
    import celpy

    return celpy.Environment()


def compile_expression(expression: str) -> Any:
    """A runnable program (its syntax tree is ``.ast``), or CelSyntaxError with the
    parser's message."""
    from celpy.celparser import CELParseError

    env = _env()
    try:
        ast = env.compile(expression)
    except CELParseError as exc:
        raise CelSyntaxError(" ".join(str(exc).split())) from None
    return env.program(ast)


@functools.cache
def _metered_evaluator() -> Any:
    """cel-python's tree-walking Evaluator, counting each node it visits on a meter."""
    from celpy.evaluation import Evaluator

    class Metered(Evaluator):
        def __init__(self, ast: Any, activation: Any, meter: _Meter) -> None:
            super().__init__(ast, activation)
            self.meter = meter

        def sub_evaluator(self, ast: Any) -> Evaluator:  # a macro's body: the same meter
            return Metered(ast, self.activation, self.meter)

        def _visit_tree(self, tree: Any) -> Any:  # every node, nested or not, passes here
            self.meter.step()
            return super()._visit_tree(tree)

    return Metered


def _list(items: Iterable[Any] | None, fn: Callable[[Any], dict[str, Any]]
          ) -> list[dict[str, Any]] | None:
    return None if items is None else [fn(x) for x in items]


# Each evidence list as plain values; ``today`` gives the findings their age.
_LISTS: dict[str, Callable[[Evidence, date], list[dict[str, Any]] | None]] = {
    "packages": lambda ev, today: _list(ev.packages, lambda p: {
        "name": p.name, "version": p.version, "type": p.type, "purl": p.purl,
        "licenses": list(p.licenses), "layer": p.layer, "visible": p.visible}),
    "vulnerabilities": lambda ev, today: _list(ev.vulnerabilities, lambda v: {
        "id": v.id, "aliases": list(v.aliases), "package": v.package, "version": v.version,
        "purl": v.purl, "severity": v.severity.value, "status": v.status.value,
        "fixed": list(v.fixed_versions), "kev": v.kev, "malicious": v.malicious,
        "ageDays": v.age_days(today), "suppressed": bool(v.suppressed_by)}),
    "secrets": lambda ev, today: _list(ev.secrets, lambda s: {
        "rule": s.rule, "severity": s.severity.value, "path": s.path, "layer": s.layer,
        "visible": s.visible}),
    "config": lambda ev, today: _list(ev.config, lambda c: {
        "id": c.id, "severity": c.severity.value, "title": c.title}),
    "signatures": lambda ev, today: _list(ev.signatures, lambda s: {
        "keyFingerprint": s.key_fingerprint, "verified": s.verified,
        "identity": s.identity, "issuer": s.issuer}),
    "attestations": lambda ev, today: _list(ev.attestations, lambda a: {
        "predicateType": a.predicate_type, "keyFingerprint": a.key_fingerprint,
        "verified": a.verified, "identity": a.identity, "issuer": a.issuer}),
}


def activation(evidence: Evidence, today: date, lists: Collection[str] | None = None
               ) -> dict[str, Any]:
    """The evidence as plain JSON-like values. ``lists``: only these evidence lists (those
    an expression names; converting the others for every rule costs as much as evaluating),
    all of them by default."""
    ev = evidence
    base = ev.base
    out: dict[str, Any] = {
        "image": {"ref": ev.image.ref, "digest": ev.image.digest,
                  "configDigest": ev.image.config_digest},
        "base": None if base is None else {
            "name": base.name, "trusted": base.trusted, "eol": base.eol,
            "daysBehind": base.days_behind},
        "severityRank": {s.value: s.rank for s in Severity},
    }
    for name, convert in _LISTS.items():
        if lists is None or name in lists:
            out[name] = convert(ev, today)
    return out


def run(program: Any, variables: dict[str, Any], *, budget: int = STEP_BUDGET) -> Result:
    """Evaluate ``program`` over ``variables`` in at most ``budget`` steps. Evaluation
    errors, non-bool results and a spent budget are results; a passed deadline raises."""
    from celpy import celtypes
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    meter = _Meter(budget)
    evaluator = _metered_evaluator()(program.ast, program.new_activation(), meter)
    try:
        value = evaluator.evaluate(json_to_cel(variables))
    except _OverBudget:
        return Result(value=None, steps=meter.steps, over_budget=True,
                      error=f"exceeded its evaluation budget of {budget:,} steps")
    except HullcheckError:
        raise  # the deadline: the whole command stops, not just this rule
    except CELEvalError as exc:
        return Result(value=None, steps=meter.steps,
                      error=f"CEL evaluation error: {_message(exc)}")
    except Exception as exc:  # cel-python raises assorted errors on odd input
        return Result(value=None, steps=meter.steps,
                      error=f"CEL evaluation error: {type(exc).__name__}: {_message(exc)}")
    if isinstance(value, CELEvalError):
        return Result(value=None, steps=meter.steps,
                      error=f"CEL evaluation error: {_message(value)}")
    if isinstance(value, celtypes.BoolType):
        return Result(value=bool(value), steps=meter.steps)
    return Result(value=None, steps=meter.steps,
                  error=f"CEL expression returned {type(value).__name__} {value!r}, not a bool")


def _message(exc: Exception) -> str:
    args = exc.args
    text = str(args[0]) if args else str(exc)
    text = text.split(" (in activation", 1)[0]  # cel-python appends the whole activation
    return text if len(text) <= 300 else text[:297] + "..."
