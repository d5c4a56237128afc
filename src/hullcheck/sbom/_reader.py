"""Typed, failure-naming access to a parsed JSON document.

Decoders walk documents written by anyone. Every wrong type or missing field
becomes a one-line ``FormatError`` naming the document and the JSON path
(``image.spdx.json: packages[3].name: expected a string``), never a
``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, overload

from hullcheck import untrusted
from hullcheck.errors import FormatError

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
_NOT_SBOM = "not a CycloneDX, SPDX or hullcheck SBOM"
HINT = "hullcheck reads CycloneDX JSON, SPDX 2.x JSON and its own JSON"


def load_json(data: bytes, name: str) -> Any:
    """Parse JSON bytes, turning every parser failure (and hostile nesting) into a FormatError."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise FormatError(
            f"{name}: document is {len(data)} bytes, more than the limit of {MAX_DOCUMENT_BYTES}"
        )
    try:
        return untrusted.json_document(data, what=f"{name}: {_NOT_SBOM}")
    except FormatError as exc:
        raise FormatError(str(exc), hint=HINT) from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


@dataclass(frozen=True, slots=True)
class Node:
    """A JSON value and where it sits in its document."""

    doc: str  # document name, for messages
    path: str  # JSON path, e.g. "components[3].purl"
    value: Any

    def fail(self, message: str) -> NoReturn:
        where = f"{self.doc}: {self.path}" if self.path else self.doc
        raise FormatError(f"{where}: {message}")

    def _child(self, key: str) -> Node:
        return Node(self.doc, f"{self.path}.{key}" if self.path else key, self.obj()[key])

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            self.fail(f"expected an object, got {_kind(self.value)}")
        return self.value

    def has(self, key: str) -> bool:
        return self.obj().get(key) is not None

    def get(self, key: str) -> Node | None:
        """The member ``key`` (absent or null: None)."""
        return self._child(key) if self.has(key) else None

    def req(self, key: str) -> Node:
        node = self.get(key)
        if node is None:
            self.fail(f"missing required field {key!r}")
        return node

    def as_str(self) -> str:
        if not isinstance(self.value, str):
            self.fail(f"expected a string, got {_kind(self.value)}")
        return self.value

    def as_int(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"expected an integer, got {_kind(self.value)}")
        return self.value

    def str(self, key: str, default: str = "") -> str:
        node = self.get(key)
        return default if node is None else node.as_str()

    # Below ``def str``, a bare ``str`` in this class's annotations names that method:
    # annotations there spell the type ``builtins.str``.
    @overload
    def fields(self, k1: builtins.str, k2: builtins.str, /) -> tuple[builtins.str, builtins.str]: ...
    @overload
    def fields(
        self, k1: builtins.str, k2: builtins.str, k3: builtins.str, /
    ) -> tuple[builtins.str, builtins.str, builtins.str]: ...
    @overload
    def fields(self, *keys: builtins.str) -> tuple[builtins.str, ...]: ...
    def fields(self, *keys: builtins.str) -> tuple[builtins.str, ...]:
        """``str(key)`` for each key, without a node per member: for the long arrays (files,
        relationships) of large documents. A wrong type fails as ``str`` does."""
        obj = self.obj()
        values = [obj.get(k) for k in keys]
        if all(v is None or isinstance(v, str) for v in values):
            return tuple(v or "" for v in values)
        return tuple(self.str(k) for k in keys)

    def opt_int(self, key: builtins.str) -> int | None:
        node = self.get(key)
        return None if node is None else node.as_int()

    def items(self) -> Iterator[Node]:
        """The elements of this array."""
        if not isinstance(self.value, list):
            self.fail(f"expected an array, got {_kind(self.value)}")
        for i, value in enumerate(self.value):
            yield Node(self.doc, f"{self.path}[{i}]", value)

    def list(self, key: builtins.str) -> builtins.list[Node]:
        """The elements of the array member ``key`` (absent or null: empty)."""
        node = self.get(key)
        return [] if node is None else list(node.items())

    def strs(self, key: builtins.str) -> tuple[builtins.str, ...]:
        return tuple(n.as_str() for n in self.list(key))
