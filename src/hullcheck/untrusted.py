"""Reading documents that other people control: JSON, YAML and files, with limits.

Every JSON or YAML document hullcheck reads from outside (manifests and error bodies from a
registry, ``.sig``/``.att`` layers, key files, SBOMs, VEX, policies, ignore and trust files,
advisories, the admission request body) goes through here:

    doc = untrusted.json_document(data, what="manifest sha256:...")       # any JSON value
    obj = untrusted.json_object(data, what="key file cosign.pub")          # must be an object
    doc = untrusted.yaml_document(text, what="ignore file .hullcheckignore")
    node = untrusted.yaml_node(text, what="policy p.yaml")                 # with line marks
    data = untrusted.read_file(path, what="policy", limit=1 << 20)

What it promises, whatever the input:
- nesting deeper than ``MAX_DEPTH`` (JSON) or libyaml's limit is a one-line error, never a
  ``RecursionError`` (in the parser or in code that later walks the document);
- YAML aliases may be used, but a document whose aliases would expand past
  ``MAX_YAML_NODES`` nodes (a "billion laughs"), or refer to themselves, is refused before
  anything is built from it;
- a file is read with a byte cap that does not trust ``stat()`` (a FIFO or ``/dev/zero`` is
  cut at the cap).

Errors are :class:`~hullcheck.errors.FormatError` unless the caller names its own class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hullcheck.errors import FormatError, HullcheckError

if TYPE_CHECKING:
    import yaml

MAX_DEPTH = 128  # JSON nesting: CycloneDX nests components, nothing real nears this
MAX_YAML_NODES = 1_000_000  # nodes after expanding aliases
_CHUNK = 1 << 16


def _fail(error: type[HullcheckError], message: str) -> HullcheckError:
    return error(message[:400])


def check_depth(doc: Any, *, what: str, limit: int = MAX_DEPTH,
                error: type[HullcheckError] = FormatError) -> None:
    """Raise ``error`` when lists/objects in ``doc`` nest deeper than ``limit`` (iterative)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            raise _fail(error, f"{what}: nested more than {limit} levels deep")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def json_document(data: bytes | str, *, what: str, error: type[HullcheckError] = FormatError,
                  max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``data``; ``error`` (one line) when it is not JSON or too deep."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise _fail(error, f"{what}: nested more than {max_depth} levels deep") from None
    except UnicodeDecodeError:
        raise _fail(error, f"{what}: not valid JSON (not UTF-8 text)") from None
    except ValueError as exc:
        raise _fail(error, f"{what}: not valid JSON ({exc})") from None
    # Nesting cannot exceed the number of opening brackets (those inside strings only add to
    # it): counted in C, this spares the walk for most documents (an OSV record: +20%, not +150%).
    if _openers(data) > max_depth:
        check_depth(doc, what=what, limit=max_depth, error=error)
    return doc


def _openers(data: bytes | str) -> int:
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def json_object(data: bytes | str, *, what: str, error: type[HullcheckError] = FormatError,
                max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Like :func:`json_document`, and the top level must be an object."""
    doc = json_document(data, what=what, error=error, max_depth=max_depth)
    if not isinstance(doc, dict):
        raise _fail(error, f"{what}: expected a JSON object, got {_kind(doc)}")
    return doc


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


# -- YAML --------------------------------------------------------------------------------------


def _loader(text: str | bytes, strings_only: bool) -> Any:
    import yaml

    # libyaml's composer is C, not recursive Python, and refuses nesting past its own limit.
    if strings_only:
        return getattr(yaml, "CBaseLoader", yaml.BaseLoader)(text)
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)


def _yaml_error(exc: Exception, what: str) -> str:
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        return f"{what}{line}: not valid YAML: {exc.problem or exc.context or 'syntax error'}"
    if isinstance(exc, RecursionError):
        return f"{what}: not valid YAML: nested too deeply"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{what}: not valid YAML: {first}"


def expanded_size(root: yaml.Node, *, what: str, limit: int = MAX_YAML_NODES,
                  error: type[HullcheckError] = FormatError) -> int:
    """Nodes in ``root`` counting each alias as a copy of what it names (iterative, each
    distinct node visited once); ``error`` past ``limit`` or on an alias to itself."""

    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(c)] for c in _children(node))
            if total > limit:
                raise _fail(error, f"{what}: YAML aliases expand to more than {limit:,} nodes; "
                                   "refused")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _fail(error, f"{what}: a YAML alias refers to the node that contains it")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _fail(error, f"{what}: a YAML alias refers to the node that contains it")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def yaml_node(text: str | bytes, *, what: str, error: type[HullcheckError] = FormatError,
              strings_only: bool = False, max_nodes: int = MAX_YAML_NODES) -> yaml.Node | None:
    """The composed node graph (with line marks) of one YAML document, checked for depth
    and alias expansion; None for an empty document."""
    import yaml

    loader = _loader(text, strings_only)
    try:
        node: yaml.Node | None = loader.get_single_node()
    except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as exc:
        raise _fail(error, _yaml_error(exc, what)) from None
    finally:
        loader.dispose()
    if node is not None:
        expanded_size(node, what=what, limit=max_nodes, error=error)
    return node


def yaml_document(text: str | bytes, *, what: str, error: type[HullcheckError] = FormatError,
                  strings_only: bool = False, max_nodes: int = MAX_YAML_NODES) -> Any:
    """The value of one YAML document (None when empty), built only after its size after
    alias expansion is known to be bounded. ``strings_only``: every scalar stays a string
    (YAML's BaseLoader: versions such as ``1.10`` keep their text)."""
    import yaml

    loader = _loader(text, strings_only)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node, what=what, limit=max_nodes, error=error)
        doc = loader.construct_document(node)
    except HullcheckError:
        raise
    except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as exc:
        raise _fail(error, _yaml_error(exc, what)) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp out of range
        raise _fail(error, f"{what}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    check_depth(doc, what=what, error=error)
    return doc


# -- files -------------------------------------------------------------------------------------


def read_file(path: Path | str, *, what: str, limit: int,
              error: type[HullcheckError] = FormatError) -> bytes:
    """The bytes of ``path``, at most ``limit``; ``error`` beyond it. The size ``stat()``
    reports is not trusted (FIFOs, ``/dev/zero`` and files that grow are cut at the cap)."""
    path = Path(path)
    if "\x00" in str(path):
        raise _fail(error, f"{what} {str(path)!r}: a file name cannot hold a NUL byte")
    parts: list[bytes] = []
    total = 0
    try:
        with path.open("rb") as f:
            while True:
                chunk = f.read(min(_CHUNK, limit + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise _fail(error, f"{what} {path}: larger than {_size(limit)}; refused")
                parts.append(chunk)
    except FileNotFoundError:
        raise _fail(error, f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise _fail(error, f"{what} {path}: is a directory, not a file") from None
    except OSError as exc:
        raise _fail(error, f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    return b"".join(parts)


def read_text(path: Path | str, *, what: str, limit: int,
              error: type[HullcheckError] = FormatError) -> str:
    """:func:`read_file`, decoded as UTF-8 (a BOM is dropped)."""
    data = read_file(path, what=what, limit=limit, error=error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(error, f"{what} {path}: not UTF-8 text") from None


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"
