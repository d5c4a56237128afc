"""Reading a policy's YAML strictly, one mapping at a time: every error names the file, the
line and the field, as a :class:`PolicyError`.

The document is *composed* (not constructed) so each value keeps its node and mark;
unknown fields, duplicate keys and wrong types are errors, never ignored.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import yaml

from hullcheck.errors import FormatError
from hullcheck.model import Severity
from hullcheck.policy.model import Source

TAG = "tag:yaml.org,2002:"
E = TypeVar("E", bound=StrEnum)


class PolicyError(FormatError):
    default_hint = "fix the policy file; see docs/policy.md for the format"


class Context:
    """The file being read: names it in every error, and resolves paths relative to it."""

    def __init__(self, name: str, base_dir: Path | None) -> None:
        self.name = name
        self.base_dir = base_dir

    def error(self, node: yaml.Node | None, field: str, message: str) -> PolicyError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        where = f" {field}:" if field else ""
        return PolicyError(f"{self.name}{line}:{where} {message}")

    def source(self, node: yaml.Node) -> Source:
        return Source(file=self.name, line=node.start_mark.line + 1)


class Fields:
    """The fields of one mapping node; each read is typed; ``finish`` rejects the rest."""

    def __init__(self, ctx: Context, node: yaml.Node, path: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise ctx.error(node, path, f"must be a mapping, not {kind_of(node)}")
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
        if not isinstance(node, yaml.ScalarNode) or node.tag == TAG + "null":
            raise self.ctx.error(node, self._p(key), f"must be a single value, not {kind_of(node)}")
        return node

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        node = self._scalar(key, required)
        if node is None:
            return default
        if node.tag not in (TAG + "str", TAG + "int", TAG + "float", TAG + "timestamp"):
            raise self.ctx.error(node, self._p(key), f"must be a string, not {kind_of(node)}")
        if required and not node.value.strip():
            raise self.ctx.error(node, self._p(key), "must not be empty")
        return str(node.value)

    def flag(self, key: str, *, default: bool = False) -> bool:
        node = self._scalar(key, False)
        if node is None:
            return default
        if node.tag != TAG + "bool":
            raise self.ctx.error(node, self._p(key), f"must be true or false, not {node.value!r}")
        return node.value.lower() in ("true", "yes", "on")

    def number(self, key: str, *, minimum: int = 0) -> int | None:
        node = self._scalar(key, False)
        if node is None:
            return None
        try:  # YAML 1.1 ints Python does not read (010, 1:30) and over 4300 digits too
            if node.tag != TAG + "int":
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

    def severity(self, key: str) -> Severity | None:
        node = self._scalar(key, False)
        if node is None:
            return None
        try:
            return Severity.parse(node.value)
        except ValueError as exc:
            raise self.ctx.error(node, self._p(key), str(exc)) from None

    def choice(self, key: str, enum: type[E], default: E) -> E:
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
        if isinstance(node, yaml.ScalarNode) and node.tag != TAG + "null":
            return [(node, self._p(key))]
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.error(node, self._p(key), f"must be a list, not {kind_of(node)}")
        return [(item, f"{self._p(key)}[{i}]") for i, item in enumerate(node.value)]

    def strings(self, key: str) -> tuple[str, ...]:
        out = []
        for item, path in self.seq(key):
            if not isinstance(item, yaml.ScalarNode) or item.tag == TAG + "null":
                raise self.ctx.error(item, path, f"must be a string, not {kind_of(item)}")
            out.append(item.value)
        return tuple(out)

    def finish(self, allowed: tuple[str, ...] = ()) -> None:
        for key, (knode, _) in self.items.items():
            if key not in self.used:
                expected = sorted(self.used | set(allowed))
                raise self.ctx.error(knode, self._p(key),
                                     f"unknown field; expected one of {', '.join(expected)}")


def kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == TAG + "null":
        return "empty"
    return f"{node.value!r}"
