"""Read a policy file (YAML) strictly: every error names the file, the line and the field.

The document is *composed* (not constructed) so each value keeps its node and mark;
unknown fields, duplicate keys, wrong types and unknown rule ids are errors, never
ignored. A policy that cannot be read is a :class:`PolicyError`, so a broken file can
never turn into a silent pass. Files are read through ``hullcheck.untrusted`` (a byte cap
that does not trust ``stat()``; nesting and YAML alias expansion bounded), and a CEL rule
whose cost cannot be bounded (``policy.celcost``) is refused here, before it can run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.match.model import Level
from hullcheck.policy import celcost
from hullcheck.policy import licenses as lic
from hullcheck.policy.cel import STEP_BUDGET, CelSyntaxError, compile_expression
from hullcheck.policy.evidence import normalise_fingerprint
from hullcheck.policy.model import (
    API_VERSION,
    KIND,
    Action,
    BannedPackage,
    BaseRule,
    CelRule,
    ConfigRule,
    LicenseMode,
    LicenseRule,
    Policy,
    Require,
    Rule,
    SbomRule,
    SecretRule,
    SignatureRule,
    Source,
    VulnerabilityRule,
    Waiver,
)
from hullcheck.sign.identity import YAML_KEYS, IdentityPolicy

MAX_POLICY = 4 << 20
MAX_KEY = 64 << 10  # a PEM public key is well under a kilobyte
MAX_EXPRESSION = 16 << 10  # characters of one CEL expression
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FINGERPRINT_RE = re.compile(r"^sha(256|384|512):[0-9a-f]{32,128}$")
_TAG = "tag:yaml.org,2002:"


class PolicyError(FormatError):
    default_hint = "fix the policy file; see docs/policy.md for the format"


class _Ctx:
    def __init__(self, name: str, base_dir: Path | None) -> None:
        self.name = name
        self.base_dir = base_dir

    def error(self, node: yaml.Node | None, field: str, message: str) -> PolicyError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        where = f" {field}:" if field else ""
        return PolicyError(f"{self.name}{line}:{where} {message}")

    def source(self, node: yaml.Node) -> Source:
        return Source(file=self.name, line=node.start_mark.line + 1)


class _Fields:
    """The fields of one mapping node; each read is typed; ``finish`` rejects the rest."""

    def __init__(self, ctx: _Ctx, node: yaml.Node, path: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise ctx.error(node, path, f"must be a mapping, not {_kind(node)}")
        self.ctx, self.mapping, self.path = ctx, node, path
        self.items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise ctx.error(key, path, "keys must be plain strings")
            if key.value in self.items:
                raise ctx.error(key, self._p(key.value), "duplicate field")
            self.items[key.value] = (key, value)
        self.used: set[str] = set()

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.items

    def node(self, key: str, *, required: bool = False) -> yaml.Node | None:
        self.used.add(key)
        if key not in self.items:
            if required:
                raise self.ctx.error(self.mapping, self._p(key), "required field is missing")
            return None
        return self.items[key][1]

    def _scalar(self, key: str, required: bool) -> yaml.ScalarNode | None:
        node = self.node(key, required=required)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag == _TAG + "null":
            raise self.ctx.error(node, self._p(key), f"must be a single value, not {_kind(node)}")
        return node

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        node = self._scalar(key, required)
        if node is None:
            return default
        if node.tag not in (_TAG + "str", _TAG + "int", _TAG + "float", _TAG + "timestamp"):
            raise self.ctx.error(node, self._p(key), f"must be a string, not {_kind(node)}")
        if required and not node.value.strip():
            raise self.ctx.error(node, self._p(key), "must not be empty")
        return str(node.value)

    def flag(self, key: str, *, default: bool = False) -> bool:
        node = self._scalar(key, False)
        if node is None:
            return default
        if node.tag != _TAG + "bool":
            raise self.ctx.error(node, self._p(key), f"must be true or false, not {node.value!r}")
        return node.value.lower() in ("true", "yes", "on")

    def number(self, key: str, *, minimum: int = 0) -> int | None:
        node = self._scalar(key, False)
        if node is None:
            return None
        try:  # YAML 1.1 ints Python does not read (010, 1:30) and over 4300 digits too
            if node.tag != _TAG + "int":
                raise ValueError
            value = int(node.value.replace("_", ""), 0)
        except ValueError:
            raise self.ctx.error(node, self._p(key),
                                 f"must be a whole number, not {node.value[:40]!r}") from None
        if value < minimum:
            raise self.ctx.error(node, self._p(key), f"must be at least {minimum}")
        return value

    def date(self, key: str, *, required: bool = False) -> date | None:
        node = self._scalar(key, required)
        if node is None:
            return None
        try:
            return date.fromisoformat(node.value)
        except ValueError:
            raise self.ctx.error(node, self._p(key),
                                 f"must be a date YYYY-MM-DD, not {node.value!r}") from None

    def level(self, key: str) -> Level | None:
        node = self._scalar(key, False)
        if node is None:
            return None
        try:
            return Level.parse(node.value)
        except ValueError as exc:
            raise self.ctx.error(node, self._p(key), str(exc)) from None

    def choice(self, key: str, enum: Any, default: Any) -> Any:
        node = self._scalar(key, False)
        if node is None:
            return default
        try:
            return enum(node.value)
        except ValueError:
            allowed = ", ".join(m.value for m in enum)
            raise self.ctx.error(node, self._p(key),
                                 f"must be one of {allowed}, not {node.value!r}") from None

    def seq(self, key: str) -> list[tuple[yaml.Node, str]]:
        """A sequence (a single scalar is a one-item list): (node, path) pairs."""
        node = self.node(key)
        if node is None:
            return []
        if isinstance(node, yaml.ScalarNode) and node.tag != _TAG + "null":
            return [(node, self._p(key))]
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.error(node, self._p(key), f"must be a list, not {_kind(node)}")
        return [(item, f"{self._p(key)}[{i}]") for i, item in enumerate(node.value)]

    def strings(self, key: str) -> tuple[str, ...]:
        out = []
        for item, path in self.seq(key):
            if not isinstance(item, yaml.ScalarNode) or item.tag == _TAG + "null":
                raise self.ctx.error(item, path, f"must be a string, not {_kind(item)}")
            out.append(item.value)
        return tuple(out)

    def finish(self, allowed: tuple[str, ...] = ()) -> None:
        for key, (knode, _) in self.items.items():
            if key not in self.used:
                expected = sorted(self.used | set(allowed))
                raise self.ctx.error(knode, self._p(key),
                                     f"unknown field; expected one of {', '.join(expected)}")


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _TAG + "null":
        return "empty"
    return f"{node.value!r}"


# -- rules ---------------------------------------------------------------------------------


def _vulnerabilities(f: _Fields, common: dict[str, Any]) -> Rule:
    rule = VulnerabilityRule(**common, severity=f.level("severity"),
                             only_with_fix=f.flag("onlyWithFix"), kev=f.flag("kev"),
                             malicious=f.flag("malicious"), min_age_days=f.number("minAgeDays"))
    if rule.severity is None and not rule.kev and not rule.malicious:
        raise f.ctx.error(f.mapping, f.path, "a vulnerabilities rule needs severity, kev: true "
                          "or malicious: true")
    return rule


def _secrets(f: _Fields, common: dict[str, Any]) -> Rule:
    return SecretRule(**common, severity=f.level("severity"),
                      include_hidden=f.flag("includeHidden", default=True))


def _config(f: _Fields, common: dict[str, Any]) -> Rule:
    rule = ConfigRule(**common, ids=f.strings("ids"), severity=f.level("severity"))
    if not rule.ids and rule.severity is None:
        raise f.ctx.error(f.mapping, f.path, "a config rule needs ids or severity")
    return rule


def _licenses(f: _Fields, common: dict[str, Any]) -> Rule:
    has_deny, has_allow = f.has("deny"), f.has("allow")
    if has_deny == has_allow:
        raise f.ctx.error(f.mapping, f.path, "a licenses rule needs exactly one of deny or allow")
    mode = LicenseMode.DENY if has_deny else LicenseMode.ALLOW
    ids = []
    for node, path in f.seq(mode.value):
        if not isinstance(node, yaml.ScalarNode):
            raise f.ctx.error(node, path, f"must be an SPDX licence id, not {_kind(node)}")
        try:
            ids.append(lic.normalise_id(node.value))
        except ValueError as exc:
            raise f.ctx.error(node, path, str(exc)) from None
    if not ids:
        raise f.ctx.error(f.mapping, f"{f.path}.{mode.value}", "must list at least one licence")
    return LicenseRule(**common, mode=mode, licenses=tuple(ids),
                       require_known=f.flag("requireKnown"))


def _sbom(f: _Fields, common: dict[str, Any]) -> Rule:
    banned = []
    for node, path in f.seq("banned"):
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _TAG + "null" or not node.value.strip():
                raise f.ctx.error(node, path, "must be a package name glob or {name, purl}, "
                                  "not empty")
            banned.append(BannedPackage(name=node.value))
            continue
        b = _Fields(f.ctx, node, path)
        item = BannedPackage(name=b.text("name"), purl=b.text("purl"), reason=b.text("reason"))
        b.finish()
        if not item.name and not item.purl:
            raise f.ctx.error(node, path, "a banned package needs name or purl")
        banned.append(item)
    rule = SbomRule(**common, required=f.flag("required"), banned=tuple(banned))
    if not rule.required and not rule.banned:
        raise f.ctx.error(f.mapping, f.path, "an sbom rule needs required: true or banned")
    return rule


def _key_fingerprint(ctx: _Ctx, node: yaml.Node, path: str) -> tuple[str, str, str]:
    """(fingerprint, as written, PEM file or "") for a key entry: a fingerprint string, or
    {fingerprint} or {path} of a PEM public key (relative to the policy file)."""
    if isinstance(node, yaml.ScalarNode):
        fp, written = normalise_fingerprint(node.value), node.value
    else:
        k = _Fields(ctx, node, path)
        fp_text, pem = k.text("fingerprint"), k.text("path")
        k.finish()
        if bool(fp_text) == bool(pem):
            raise ctx.error(node, path, "a key needs exactly one of fingerprint or path")
        if pem:
            fp, file = public_key_fingerprint(ctx, node, f"{path}.path", pem)
            return fp, pem, file
        fp, written = normalise_fingerprint(fp_text), fp_text
    if not _FINGERPRINT_RE.match(fp):
        raise ctx.error(node, path, f"{written!r} is not a key fingerprint (sha256:<hex>)")
    return fp, written, ""


def public_key_fingerprint(ctx: _Ctx, node: yaml.Node, path: str, pem_path: str) -> tuple[str, str]:
    """(fingerprint, absolute path) of a PEM public key file."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    file = Path(pem_path)
    if not file.is_absolute() and ctx.base_dir is not None:
        file = ctx.base_dir / file
    try:
        data = untrusted.read_file(file, what="public key", limit=MAX_KEY, error=PolicyError)
    except PolicyError as exc:
        raise ctx.error(node, path, f"cannot read {exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ctx.error(node, path, f"{file} is not a PEM public key") from None
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest(), str(file.resolve())


def _identity(ctx: _Ctx, node: yaml.Node, path: str) -> IdentityPolicy:
    """A keyless signer: identity/identityRegexp, issuer/issuerRegexp, GitHub claims."""
    k = _Fields(ctx, node, path)
    values = {key: k.text(key) for key in YAML_KEYS}
    k.finish()
    try:
        return IdentityPolicy.from_yaml(values, error=PolicyError, where=path)
    except PolicyError as exc:
        raise ctx.error(node, "", str(exc)) from None


def _trusted_root(f: _Fields) -> str:
    written = f.text("trustedRoot")
    if not written:
        return ""
    file = Path(written)
    if not file.is_absolute() and f.ctx.base_dir is not None:
        file = f.ctx.base_dir / file
    return str(file.resolve())


def _signatures(f: _Fields, common: dict[str, Any]) -> Rule:
    keys = [_key_fingerprint(f.ctx, node, path) for node, path in f.seq("keys")]
    rule = SignatureRule(**common, keys=tuple(k for k, _, _ in keys),
                         key_names=tuple(n for _, n, _ in keys),
                         key_files=tuple(f for _, _, f in keys if f),
                         require=f.choice("require", Require, Require.ANY),
                         attestations=f.strings("attestations"),
                         identities=tuple(_identity(f.ctx, node, path)
                                          for node, path in f.seq("identities")),
                         trusted_root=_trusted_root(f))
    if not rule.keys and not rule.identities and not rule.attestations:
        raise f.ctx.error(f.mapping, f.path,
                          "a signatures rule needs keys, identities or attestations")
    return rule


def _base(f: _Fields, common: dict[str, Any]) -> Rule:
    rule = BaseRule(**common, trusted=f.flag("trusted"), not_eol=f.flag("notEol"),
                    max_days_behind=f.number("maxDaysBehind"))
    if not rule.trusted and not rule.not_eol and rule.max_days_behind is None:
        raise f.ctx.error(f.mapping, f.path,
                          "a base rule needs trusted: true, notEol: true or maxDaysBehind")
    return rule


def _cel(f: _Fields, common: dict[str, Any]) -> Rule:
    node = f.node("expression", required=True)
    expression = f.text("expression", required=True)
    field = f"{f.path}.expression"
    if len(expression) > MAX_EXPRESSION:
        raise f.ctx.error(node, field, f"longer than {MAX_EXPRESSION:,} characters")
    try:
        program = compile_expression(expression)
    except CelSyntaxError as exc:
        raise f.ctx.error(node, field, f"CEL syntax error: {exc}") from None
    if celcost.depth(program.ast) > celcost.MAX_DEPTH:
        raise f.ctx.error(node, field, "nested too deeply (more than "
                          f"{celcost.MAX_DEPTH} levels of syntax); split it into rules")
    cost = celcost.estimate(program.ast)
    if cost.steps > STEP_BUDGET:
        raise f.ctx.error(node, field, _unbounded(cost))
    return CelRule(**common, expression=expression, message=f.text("message"), program=program)


def _unbounded(cost: celcost.Estimate) -> str:
    steps = f"{cost.steps:,}" if cost.steps < 10**15 else "more than 10^15"
    nesting = (f" ({' inside '.join(reversed(cost.nesting))} over evidence lists)"
               if len(cost.nesting) > 1 else "")
    return (f"evaluation cost cannot be bounded: {steps} steps for an image with "
            f"{celcost.EVIDENCE_ITEMS:,} packages or findings, over the budget of "
            f"{STEP_BUDGET:,}{nesting}; avoid nesting comprehensions over the evidence")


_RULE_TYPES: dict[str, Callable[[_Fields, dict[str, Any]], Rule]] = {
    "vulnerabilities": _vulnerabilities,
    "secrets": _secrets,
    "config": _config,
    "licenses": _licenses,
    "sbom": _sbom,
    "signatures": _signatures,
    "base": _base,
    "cel": _cel,
}


_TOP = ("apiVersion", "kind", "metadata", "rules", "waivers")
_COMMON = ("id", "type", "action", "description")
_FIELDS = {
    "vulnerabilities": ("severity", "onlyWithFix", "kev", "malicious", "minAgeDays"),
    "secrets": ("severity", "includeHidden"),
    "config": ("ids", "severity"),
    "licenses": ("deny", "allow", "requireKnown"),
    "sbom": ("required", "banned"),
    "signatures": ("keys", "require", "attestations", "identities", "trustedRoot"),
    "base": ("trusted", "notEol", "maxDaysBehind"),
    "cel": ("expression", "message"),
}


def _rule(ctx: _Ctx, node: yaml.Node, path: str) -> Rule:
    f = _Fields(ctx, node, path)
    rule_id = f.text("id", required=True)
    id_node = f.node("id")
    if not _ID_RE.match(rule_id):
        raise ctx.error(id_node, f"{path}.id", f"{rule_id!r} is not a valid rule id "
                        "(letters, digits, '.', '_', '-')")
    kind = f.text("type", required=True)
    if kind not in _RULE_TYPES:
        raise ctx.error(f.node("type"), f"{path}.type",
                        f"unknown rule type {kind!r}; one of {', '.join(_RULE_TYPES)}")
    allowed = _COMMON + _FIELDS[kind]
    for key, (knode, _) in f.items.items():
        if key not in allowed:
            raise ctx.error(knode, f"{path}.{key}", f"unknown field for a {kind} rule; "
                            f"expected one of {', '.join(allowed)}")
    common = {"id": rule_id, "action": f.choice("action", Action, Action.FAIL),
              "description": f.text("description"), "where": ctx.source(node)}
    rule = _RULE_TYPES[kind](f, common)
    f.finish()
    return rule


def _waiver(ctx: _Ctx, node: yaml.Node, path: str, rule_ids: set[str]) -> Waiver:
    f = _Fields(ctx, node, path)
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
    ctx = _Ctx(name, base_dir)
    root = untrusted.yaml_node(text, what=name, error=PolicyError)
    if root is None:
        raise PolicyError(f"{name}: the policy file is empty")
    top = _Fields(ctx, root, "")
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
        m = _Fields(ctx, meta, "metadata")
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
