"""Read a policy file (YAML) strictly: every error names the file, the line and the field.

The document is *composed* (not constructed) so each value keeps its node and mark;
unknown fields, duplicate keys, wrong types and unknown rule ids are errors, never
ignored. A policy that cannot be read is a :class:`PolicyError`, so a broken file can
never turn into a silent pass. Files are read through ``hullcheck.untrusted`` (a byte cap
that does not trust ``stat()``; nesting and YAML alias expansion bounded), and a CEL rule
whose cost cannot be bounded (``policy.celcost``) is refused here, before it can run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hullcheck import untrusted
from hullcheck.policy.fields import Context, Fields, PolicyError
from hullcheck.policy.model import API_VERSION, KIND, Action, Policy, Rule, Waiver
from hullcheck.policy.rules import RULE_TYPES

MAX_POLICY = 4 << 20
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# -- rules ---------------------------------------------------------------------------------

_BY_TYPE = {r.TYPE: r for r in RULE_TYPES}
_TOP = ("apiVersion", "kind", "metadata", "rules", "waivers")
_COMMON = ("id", "type", "action", "description")


def _rule(ctx: Context, node: yaml.Node, path: str) -> Rule:
    f = Fields(ctx, node, path)
    rule_id = f.text("id", required=True)
    id_node = f.node("id")
    if not _ID_RE.match(rule_id):
        raise ctx.error(id_node, f"{path}.id", f"{rule_id!r} is not a valid rule id "
                        "(letters, digits, '.', '_', '-')")
    word = f.text("type", required=True)
    rule_type = _BY_TYPE.get(word)
    if rule_type is None:
        raise ctx.error(f.node("type"), f"{path}.type",
                        f"unknown rule type {word!r}; one of {', '.join(_BY_TYPE)}")
    allowed = _COMMON + rule_type.FIELDS
    for key, (knode, _) in f.items.items():
        if key not in allowed:
            raise ctx.error(knode, f"{path}.{key}", f"unknown field for a {word} rule; "
                            f"expected one of {', '.join(allowed)}")
    common: dict[str, Any] = {"id": rule_id, "action": f.choice("action", Action, Action.FAIL),
                              "description": f.text("description"), "where": ctx.source(node)}
    rule = rule_type.read(f, common)
    f.finish()
    return rule


def _waiver(ctx: Context, node: yaml.Node, path: str, rule_ids: set[str]) -> Waiver:
    f = Fields(ctx, node, path)
    rule = f.text("rule")
    if rule and rule not in rule_ids:
        raise ctx.error(f.node("rule"), f"{path}.rule", f"no rule has id {rule!r}")
    vuln = f.text("vulnerability")
    if not rule and not vuln:
        raise ctx.error(node, path, "a waiver needs rule or vulnerability")
    expires = f.date("expires", required=True)
    assert expires is not None
    waiver = Waiver(rule=rule, vulnerability=vuln, images=f.strings("images"),
                    package=f.text("package"), reason=f.text("reason", required=True),
                    expires=expires, where=ctx.source(node))
    f.finish()
    return waiver


# -- the document ----------------------------------------------------------------------------


def loads(text: str | bytes, *, name: str = "<policy>", base_dir: Path | None = None) -> Policy:
    ctx = Context(name, base_dir)
    root = untrusted.yaml_node(text, what=name, error=PolicyError)
    if root is None:
        raise PolicyError(f"{name}: the policy file is empty")
    top = Fields(ctx, root, "")
    for key, (knode, _) in top.items.items():
        if key not in _TOP:
            raise ctx.error(knode, key, f"unknown field; expected one of {', '.join(_TOP)}")
    api = f"{top.text('apiVersion', required=True)}"
    if api != API_VERSION:
        raise ctx.error(top.node("apiVersion"), "apiVersion", f"must be {API_VERSION}, not {api!r}")
    kind = top.text("kind", required=True)
    if kind != KIND:
        raise ctx.error(top.node("kind"), "kind", f"must be {KIND}, not {kind!r}")
    policy_name = Path(name).stem
    meta = top.node("metadata")
    if meta is not None:
        m = Fields(ctx, meta, "metadata")
        policy_name = m.text("name", default=policy_name)
        m.text("description")
        m.finish()
    rules_list = top.seq("rules")
    if not rules_list:
        raise ctx.error(top.node("rules") or root, "rules", "a policy needs at least one rule")
    rules = []
    seen: dict[str, int] = {}
    for node, path in rules_list:
        rule = _rule(ctx, node, path)
        if rule.id in seen:
            raise ctx.error(node, f"{path}.id",
                            f"duplicate rule id {rule.id!r} (first on line {seen[rule.id]})")
        seen[rule.id] = rule.where.line
        rules.append(rule)
    waivers = tuple(_waiver(ctx, node, path, set(seen)) for node, path in top.seq("waivers"))
    top.finish()
    return Policy(name=policy_name, rules=tuple(rules), waivers=waivers, source=name)


def load(path: Path | str) -> Policy:
    path = Path(path)
    text = untrusted.read_text(path, what="policy file", limit=MAX_POLICY, error=PolicyError)
    return loads(text, name=str(path), base_dir=path.parent)
