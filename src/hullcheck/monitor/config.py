"""The monitor's ``--config`` file (YAML), read strictly: every mistake is one line naming the
file, the line and the field, as policies are (docs/monitor.md has the reference).

    registries:  [{host: registry.example.org, insecure: false}]
    advisories:  {sources: sources.yaml, update-every: 6h}
    channels:    [{name: ops, type: webhook, url: ..., secret-env: HOOK_SECRET}, ...]
    alerts:      [{name: urgent, when: new-finding, min-severity: high, channels: [ops]}]
    policy:      production.yaml
    vex:         [decisions.openvex.json]          # applied to every image's findings
    ignore:      .hullcheckignore
    repositories: [{match: "registry.example.org/shop/*", owners: [shop@example.org],
                    channels: [team]}]
    watch:       [{repository: registry.example.org/app, tags: ["1.*"], every: 10m}]
    signatures:  {keys: [cosign.pub]}               # images none of them signed: image-unsigned
    signing:     {key: cosign.key, password-env: COSIGN_PASSWORD}   # OpenVEX attestations
    base:        {catalog: bases.json, trust: trust.yaml}

The document is composed (``untrusted.yaml_node``), so values keep their line marks; unknown
keys, duplicate keys and wrong types are errors. Files named in it are relative to it.
Channels are built here (``channels.channel_from_config``), so a secret missing from the
environment is a config error at start, not a failed delivery later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hullcheck import layercache, untrusted
from hullcheck.deadline import parse_duration
from hullcheck.errors import FormatError, HullcheckError
from hullcheck.globs import translate
from hullcheck.model import Severity
from hullcheck.monitor.channels import Channel, ChannelConfigError, channel_from_config
from hullcheck.signers import YAML_KEYS, IdentityPolicy, Keyless

MAX_CONFIG = 1 << 20
EVENTS = ("new-finding", "fixed-finding", "finding-changed", "policy-failed", "base-stale",
          "secret-found", "image-unsigned", "config-failed")
_TAG = "tag:yaml.org,2002:"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
MIN_EVERY = 10.0  # seconds: schedules faster than this would only load the registry
MIN_LAYER_CACHE = 16 << 20  # bytes: below this one large layer's index would not fit
_SIZE = re.compile(r"([0-9]+)\s*([KMGT]i?B?|B)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}


class ConfigError(FormatError):
    default_hint = "fix the monitor config; see docs/monitor.md for every key"


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry:
    host: str  # HOST[:PORT] as references name it
    insecure: bool = False  # plain HTTP (loopback hosts always are)


@dataclass(frozen=True, slots=True, kw_only=True)
class Advisories:
    sources: Path | None = None  # ``db update --sources`` file; None: the public feeds
    update_every: float | None = None  # seconds; None: only on request


@dataclass(frozen=True, slots=True, kw_only=True)
class Glob:
    """A repository glob (``*`` within a path component, ``**`` across)."""

    pattern: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def of(cls, pattern: str) -> Glob:
        return cls(pattern=pattern, regex=re.compile(translate(pattern, empty_globstar_dir=False)))

    def matches(self, repository: str) -> bool:
        return self.regex.fullmatch(repository) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """Which events go to which channels. Every condition given must hold."""

    name: str
    when: tuple[str, ...]  # event types
    channels: tuple[str, ...]
    min_severity: Severity | None = None  # finding events: at or above
    malicious: bool = False  # finding events: only malicious packages
    kev: bool = False  # finding events: only findings in CISA's KEV
    repositories: tuple[Glob, ...] = ()  # only images of these repositories (none: all)
    include_suppressed: bool = False  # findings marked by VEX / ignore rules alert too


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryRule:
    """Owners and extra channels of the repositories a glob matches."""

    match: Glob
    owners: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # every event routed for these images also goes here


@dataclass(frozen=True, slots=True, kw_only=True)
class Watch:
    repository: str  # HOST/REPO
    tags: tuple[Glob, ...] = ()  # none: every tag
    every: float = 600.0  # seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class Signing:
    key: Path
    password_env: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole config; ``Config()`` is the empty one (no registry may be pulled from)."""

    source: str = "(no config)"
    registries: tuple[Registry, ...] = ()
    advisories: Advisories = field(default_factory=Advisories)
    channels: Mapping[str, Channel] = field(default_factory=dict)
    alerts: tuple[AlertRule, ...] = ()
    policy: Path | None = None
    vex: tuple[Path, ...] = ()
    ignore: Path | None = None
    repositories: tuple[RepositoryRule, ...] = ()
    watch: tuple[Watch, ...] = ()
    signature_keys: tuple[Path, ...] = ()
    signature_keyless: Keyless | None = None  # keyless signers (Fulcio/Rekor) that count
    signing: Signing | None = None
    base_catalog: Path | None = None
    base_trust: Path | None = None
    layer_cache_bytes: int = layercache.DEFAULT_MAX_BYTES  # the layer cache's LRU bound

    def registry(self, host: str) -> Registry | None:
        host = host.lower()
        return next((r for r in self.registries if r.host.lower() == host), None)

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()


# -- reading -----------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, name: str, base: Path, environ: Mapping[str, str]) -> None:
        self.name, self.base, self.environ = name, base, environ

    def error(self, node: yaml.Node | None, path: str, message: str) -> ConfigError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        where = f" {path}:" if path else ""
        return ConfigError(f"{self.name}{line}:{where} {message}")

    def path(self, node: yaml.ScalarNode, key: str) -> Path:
        p = Path(node.value).expanduser()
        p = p if p.is_absolute() else self.base / p
        if not p.exists():
            raise self.error(node, key, f"{node.value}: no such file")
        return p


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _TAG + "null":
        return "empty"
    return repr(node.value[:40])


class _Map:
    """One mapping node: typed reads; ``finish`` refuses keys nobody read."""

    def __init__(self, ctx: _Ctx, node: yaml.Node, path: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise ctx.error(node, path, f"must be a mapping, not {_kind(node)}")
        self.ctx, self.node, self.path = ctx, node, path
        self.items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise ctx.error(key, path, "keys must be plain strings")
            if key.value in self.items:
                raise ctx.error(key, self.p(key.value), "duplicate key")
            self.items[key.value] = (key, value)
        self.used: set[str] = set()

    def p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, *, required: bool = False) -> yaml.Node | None:
        self.used.add(key)
        if key not in self.items:
            if required:
                raise self.ctx.error(self.node, self.p(key), "required key is missing")
            return None
        return self.items[key][1]

    def scalar(self, key: str, *, required: bool = False) -> yaml.ScalarNode | None:
        node = self.get(key, required=required)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag == _TAG + "null":
            raise self.ctx.error(node, self.p(key), f"must be a single value, not {_kind(node)}")
        return node

    def text(self, key: str, *, required: bool = False) -> str:
        node = self.scalar(key, required=required)
        if node is None:
            return ""
        if node.tag not in (_TAG + "str", _TAG + "int") or not node.value.strip():
            raise self.ctx.error(node, self.p(key), f"must be a non-empty string, not {_kind(node)}")
        if any(c in node.value for c in "\r\n\x00"):
            raise self.ctx.error(node, self.p(key), "must be one line")
        return str(node.value)

    def flag(self, key: str) -> bool:
        node = self.scalar(key)
        if node is None:
            return False
        if node.tag != _TAG + "bool":
            raise self.ctx.error(node, self.p(key), f"must be true or false, not {_kind(node)}")
        return node.value.lower() in ("true", "yes", "on")

    def duration(self, key: str) -> float | None:
        node = self.scalar(key)
        if node is None:
            return None
        try:
            seconds = parse_duration(node.value)
        except HullcheckError:
            raise self.ctx.error(node, self.p(key), f"must be a duration such as 30s, 10m or "
                                 f"6h, not {_kind(node)}") from None
        if seconds < MIN_EVERY:
            raise self.ctx.error(node, self.p(key), f"must be at least {MIN_EVERY:g}s")
        return seconds

    def size(self, key: str, *, minimum: int) -> int | None:
        """A size such as ``2GiB``, ``500MB`` or ``1073741824`` (bytes), at least ``minimum``."""
        node = self.scalar(key)
        if node is None:
            return None
        match = _SIZE.fullmatch(node.value.strip())
        if match is None or len(match[1]) > 18:
            raise self.ctx.error(node, self.p(key), f"must be a size such as 500MiB or 2GiB, "
                                 f"not {_kind(node)}")
        size = int(match[1]) * _UNITS[(match[2] or "").lower().removesuffix("b")]
        if size < minimum:
            raise self.ctx.error(node, self.p(key), f"must be at least {minimum >> 20}MiB")
        return size

    def file(self, key: str) -> Path | None:
        node = self.scalar(key)
        return None if node is None else self.ctx.path(node, self.p(key))

    def seq(self, key: str) -> list[tuple[yaml.Node, str]]:
        """A list (one scalar is a list of one): (node, path) pairs."""
        node = self.get(key)
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null"):
            return []
        if isinstance(node, yaml.ScalarNode):
            return [(node, self.p(key))]
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.error(node, self.p(key), f"must be a list, not {_kind(node)}")
        return [(item, f"{self.p(key)}[{i}]") for i, item in enumerate(node.value)]

    def strings(self, key: str) -> tuple[str, ...]:
        out = []
        for node, path in self.seq(key):
            if not isinstance(node, yaml.ScalarNode) or node.tag == _TAG + "null" or \
                    not node.value.strip():
                raise self.ctx.error(node, path, f"must be a non-empty string, not {_kind(node)}")
            out.append(str(node.value))
        return tuple(out)

    def finish(self) -> None:
        for key, (knode, _) in self.items.items():
            if key not in self.used:
                raise self.ctx.error(knode, self.p(key), "unknown key; expected one of "
                                     + ", ".join(sorted(self.used)))


def load_config(path: Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and check ``path``; ``ConfigError`` (one line, file:line: key: what) otherwise.
    Channels read their secrets from ``environ`` (default: the process environment)."""
    data = untrusted.read_file(path, what="monitor config", limit=MAX_CONFIG, error=ConfigError)
    return parse_config(data, name=str(path), base=path.parent,
                        environ=os.environ if environ is None else environ)


def parse_config(text: str | bytes, *, name: str = "config", base: Path = Path(),
                 environ: Mapping[str, str] | None = None) -> Config:
    ctx = _Ctx(name, base, os.environ if environ is None else environ)
    root = untrusted.yaml_node(text, what=name, error=ConfigError)
    if root is None:
        return Config(source=name)
    top = _Map(ctx, root, "")
    channels = _channels(top, ctx)
    try:
        config = Config(
            source=name,
            registries=tuple(_registry(ctx, n, p) for n, p in top.seq("registries")),
            advisories=_advisories(ctx, top.get("advisories")),
            channels=channels,
            alerts=_alerts(top, ctx, channels),
            policy=top.file("policy"),
            vex=tuple(ctx.path(_scalar(ctx, n, p), p) for n, p in top.seq("vex")),
            ignore=top.file("ignore"),
            repositories=tuple(_repository(ctx, n, p, channels)
                               for n, p in top.seq("repositories")),
            watch=tuple(_watch(ctx, n, p) for n, p in top.seq("watch")),
            **_signatures(ctx, top.get("signatures")),
            signing=_signing(ctx, top.get("signing")),
            **_base(ctx, top.get("base")),
            **_layer_cache(ctx, top.get("layer-cache")),
        )
        top.finish()
        _check_registries(ctx, top, config)
    except BaseException:
        for channel in channels.values():
            channel.close()
        raise
    return config


def _scalar(ctx: _Ctx, node: yaml.Node, path: str) -> yaml.ScalarNode:
    if not isinstance(node, yaml.ScalarNode) or node.tag == _TAG + "null" or not node.value:
        raise ctx.error(node, path, f"must be a file name, not {_kind(node)}")
    return node


def _registry(ctx: _Ctx, node: yaml.Node, path: str) -> Registry:
    where: yaml.Node = node
    if isinstance(node, yaml.ScalarNode):
        host, insecure = node.value, False
    else:
        m = _Map(ctx, node, path)
        host, insecure = m.text("host", required=True), m.flag("insecure")
        m.finish()
    if not _HOST.fullmatch(host):
        raise ctx.error(where, path, f"{host!r} is not a registry host (HOST or HOST:PORT)")
    return Registry(host=host.lower(), insecure=insecure)


def _advisories(ctx: _Ctx, node: yaml.Node | None) -> Advisories:
    if node is None:
        return Advisories()
    m = _Map(ctx, node, "advisories")
    out = Advisories(sources=m.file("sources"), update_every=m.duration("update-every"))
    m.finish()
    return out


def _channels(top: _Map, ctx: _Ctx) -> dict[str, Channel]:
    out: dict[str, Channel] = {}
    try:
        for node, path in top.seq("channels"):
            where = f"{ctx.name}:{node.start_mark.line + 1}: {path}"
            doc = untrusted.yaml_document(yaml.serialize(node), what=where, error=ConfigError)
            try:
                channel = channel_from_config(doc, where=where, environ=ctx.environ)
            except ChannelConfigError as exc:  # one error class for the whole file
                raise ConfigError(str(exc)) from None
            if channel.name in out:
                channel.close()
                raise ctx.error(node, path, f"a channel named {channel.name!r} is already defined")
            out[channel.name] = channel
    except BaseException:
        for channel in out.values():
            channel.close()
        raise
    return out


def _channel_names(ctx: _Ctx, m: _Map, key: str, channels: Mapping[str, Channel]) -> tuple[str, ...]:
    names = m.strings(key)
    for (node, path), name in zip(m.seq(key), names, strict=True):
        if name not in channels:
            known = ", ".join(channels) or "none defined"
            raise ctx.error(node, path, f"no channel named {name!r} (channels: {known})")
    return names


def _alerts(top: _Map, ctx: _Ctx, channels: Mapping[str, Channel]) -> tuple[AlertRule, ...]:
    rules = []
    for node, path in top.seq("alerts"):
        m = _Map(ctx, node, path)
        name = m.text("name", required=True)
        if not _NAME.fullmatch(name):
            raise ctx.error(m.scalar("name"), f"{path}.name", "must be 1-64 letters, digits, "
                            "'.', '_' or '-'")
        when = m.strings("when")
        for (wnode, wpath), kind in zip(m.seq("when"), when, strict=True):
            if kind not in EVENTS:
                raise ctx.error(wnode, wpath, f"unknown event {kind!r}; one of {', '.join(EVENTS)}")
        if not when:
            raise ctx.error(node, f"{path}.when", "required: the events this rule routes")
        severity = m.scalar("min-severity")
        level = None
        if severity is not None:
            try:
                level = Severity.parse(severity.value)
            except ValueError as exc:
                raise ctx.error(severity, f"{path}.min-severity", str(exc)) from None
        names = _channel_names(ctx, m, "channels", channels)
        if not names:
            raise ctx.error(node, f"{path}.channels", "required: where the events go")
        rules.append(AlertRule(name=name, when=when, channels=names, min_severity=level,
                               malicious=m.flag("malicious"), kev=m.flag("kev"),
                               repositories=tuple(Glob.of(g) for g in m.strings("repositories")),
                               include_suppressed=m.flag("include-suppressed")))
        m.finish()
    return tuple(rules)


def _repository(ctx: _Ctx, node: yaml.Node, path: str,
                channels: Mapping[str, Channel]) -> RepositoryRule:
    m = _Map(ctx, node, path)
    rule = RepositoryRule(match=Glob.of(m.text("match", required=True)),
                          owners=m.strings("owners"),
                          channels=_channel_names(ctx, m, "channels", channels))
    m.finish()
    if not rule.owners and not rule.channels:
        raise ctx.error(node, path, "a repository rule needs owners or channels")
    return rule


def _watch(ctx: _Ctx, node: yaml.Node, path: str) -> Watch:
    m = _Map(ctx, node, path)
    repo = m.text("repository", required=True)
    if "/" not in repo or any(c in repo for c in "@ ") or ":" in repo.split("/", 1)[1]:
        raise ctx.error(m.scalar("repository"), f"{path}.repository",
                        f"{repo!r} must be HOST/REPOSITORY, without tag or digest")
    out = Watch(repository=repo, tags=tuple(Glob.of(t) for t in m.strings("tags")),
                every=m.duration("every") or 600.0)
    m.finish()
    return out


def _signatures(ctx: _Ctx, node: yaml.Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    m = _Map(ctx, node, "signatures")
    keys = tuple(ctx.path(_scalar(ctx, n, p), p) for n, p in m.seq("keys"))
    identities = tuple(_identity(ctx, n, p) for n, p in m.seq("identities"))
    root = m.file("trustedRoot")
    m.finish()
    if root is not None and not identities:
        raise ctx.error(node, "signatures.trustedRoot", "is only used with identities")
    keyless = Keyless(identities=identities, trusted_root=root) if identities else None
    return {"signature_keys": keys, "signature_keyless": keyless}


def _identity(ctx: _Ctx, node: yaml.Node, path: str) -> IdentityPolicy:
    """One keyless signer: identity/identityRegexp, issuer/issuerRegexp and the GitHub
    workflow claims, as base trust files and policies spell them (``signers.YAML_KEYS``)."""
    m = _Map(ctx, node, path)
    values = {key: m.text(key) for key in YAML_KEYS if key in m.items}
    m.finish()
    try:
        return IdentityPolicy.from_yaml(values, error=ConfigError, where=path)
    except ConfigError as exc:
        raise ctx.error(node, path, str(exc)) from None


def _signing(ctx: _Ctx, node: yaml.Node | None) -> Signing | None:
    if node is None:
        return None
    m = _Map(ctx, node, "signing")
    key = m.file("key")
    if key is None:
        raise ctx.error(node, "signing.key", "required key is missing")
    env = m.text("password-env")
    if env and env not in ctx.environ:
        raise ctx.error(m.scalar("password-env"), "signing.password-env",
                        f"the environment variable {env} is not set")
    m.finish()
    return Signing(key=key, password_env=env)


def _base(ctx: _Ctx, node: yaml.Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    m = _Map(ctx, node, "base")
    out = {"base_catalog": m.file("catalog"), "base_trust": m.file("trust")}
    m.finish()
    return out


def _layer_cache(ctx: _Ctx, node: yaml.Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    m = _Map(ctx, node, "layer-cache")
    size = m.size("max-size", minimum=MIN_LAYER_CACHE)
    m.finish()
    return {} if size is None else {"layer_cache_bytes": size}


def _check_registries(ctx: _Ctx, top: _Map, config: Config) -> None:
    """Watched repositories must be in a configured registry (nothing else is pulled)."""
    for (node, path), w in zip(top.seq("watch"), config.watch, strict=True):
        host = w.repository.split("/", 1)[0]
        if config.registry(host) is None:
            raise ctx.error(node, f"{path}.repository", f"{host} is not in registries:")
