"""How much a CEL rule costs, estimated from its syntax tree before it ever runs.

The unit is cel-python's: one step is one node of the tree evaluated (what ``cel.run``
counts). Evaluating a node costs one step plus its children; a comprehension macro
(``all``, ``exists``, ``exists_one``, ``map``, ``filter``) costs its range plus, for each
element, its body. Sizes are upper bounds for an image of the design size:

- an evidence list (``packages``, ``vulnerabilities``...): :data:`EVIDENCE_ITEMS`;
- a field of an element (``p.licenses``, ``v.aliases``) or an element itself: :data:`FIELD_ITEMS`;
- a list or map literal: its length; ``map``/``filter``: the size of their range;
- anything else: :data:`EVIDENCE_ITEMS` (a safe guess).

Branches that short-circuit are all counted, so the estimate is an upper bound. A rule whose
estimate is over ``cel.STEP_BUDGET`` cannot be bounded: ``policy validate`` (and every load)
refuses it rather than letting it run out its budget on every real image. The estimate is
the guide; the step counter in ``cel.run`` is the guarantee.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hullcheck.model import Severity

EVIDENCE_ITEMS = 1_000  # packages or findings of a large image
FIELD_ITEMS = 16  # licences, aliases, fixed versions of one item; keys of one item
MAX_DEPTH = 250  # syntax-tree depth: cel-python recurses about 4 Python frames a level

COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_EXTENSIONS = frozenset({"reduce", "min"})  # cel-python's own list macros
_LISTS = frozenset({"packages", "vulnerabilities", "secrets", "config", "signatures",
                    "attestations"})
_MAPS = {"image": 3, "base": 4, "severityRank": len(Severity)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    steps: int  # upper bound for an image of the design size
    nesting: tuple[str, ...]  # the most deeply nested chain of comprehension macros


def depth(ast: Any) -> int:
    """Depth of the syntax tree (iterative: the tree may be deeper than Python's stack)."""
    deepest = 0
    stack = [(ast, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in getattr(node, "children", ()) if _is_tree(c))
    return deepest


def estimate(ast: Any) -> Estimate:
    """The cost of evaluating ``ast`` once; call only on trees within :data:`MAX_DEPTH`."""
    steps, nesting = _cost(ast, {})
    return Estimate(steps=steps, nesting=nesting)


def _is_tree(node: Any) -> bool:
    return hasattr(node, "data") and hasattr(node, "children")


def _trees(node: Any) -> list[Any]:
    return [c for c in node.children if _is_tree(c)]


def _macro(node: Any) -> tuple[Any, str, list[Any]] | None:
    """(range, name, arguments) of ``range.name(arguments)`` when it is a list macro."""
    if node.data != "member_dot_arg" or len(node.children) < 3:
        return None
    name = str(node.children[1])
    if name not in COMPREHENSIONS | _EXTENSIONS or not _is_tree(node.children[2]):
        return None
    return node.children[0], name, _trees(node.children[2])


def _var(tree: Any) -> str:
    """The identifier a macro binds (its first argument is a bare identifier)."""
    idents = list(tree.find_data("ident"))
    return str(idents[0].children[0]) if idents else ""


def _cost(node: Any, scope: Mapping[str, int]) -> tuple[int, tuple[str, ...]]:
    """(steps, deepest macro chain) of one evaluation of ``node``; ``scope`` maps the
    variables macros bound around it to the size of what they hold."""
    macro = _macro(node)
    if macro is None:
        steps = 1
        nesting: tuple[str, ...] = ()
        for child in _visited(node):
            s, n = _cost(child, scope)
            steps += s
            nesting = max(nesting, n, key=len)
        return steps, nesting
    member, name, args = macro
    range_steps, range_nesting = _cost(member, scope)
    items = _size(member, scope)
    inner = dict(scope)
    for var in args[:-1]:
        if _bare_ident(var):  # the variable(s) the macro binds
            inner[_var(var)] = _element(member, scope)
    # the macro node, its range once, every argument but the body once, the body per item
    steps = 1 + range_steps + sum(_cost(a, scope)[0] for a in args[1:-1]
                                  if not _bare_ident(a))
    body_steps, body_nesting = _cost(args[-1], inner) if args else (0, ())
    steps += items * body_steps
    return steps, max(range_nesting, (name, *body_nesting), key=len)


def _visited(node: Any) -> list[Any]:
    """The subtrees cel-python visits to evaluate ``node``: a ``primary`` evaluates the
    parts of its identifier, call, list or map itself, visiting only their expressions."""
    if node.data != "primary":
        return _trees(node)
    (child,) = _trees(node)
    if child.data == "literal":
        return [child]
    if child.data == "ident_arg":
        return [e for args in _trees(child) for e in _trees(args)]
    return _trees(child)  # an identifier's name is a token: nothing more is visited


def _bare_ident(tree: Any) -> bool:
    return bool(tree.data == "expr" and _unwrap(tree).data == "ident")


_PASS_THROUGH = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition",
                           "multiplication", "unary", "member", "primary", "paren_expr"})


def _unwrap(node: Any) -> Any:
    """Down the grammar's one-child chains (expr > conditionalor > ... > primary)."""
    while node.data in _PASS_THROUGH and len(node.children) == 1 and _is_tree(node.children[0]):
        node = node.children[0]
    return node


def _size(node: Any, scope: Mapping[str, int]) -> int:
    """Upper bound of the number of items (or keys) the list or map ``node`` yields."""
    node = _unwrap(node)
    kind = node.data
    macro = _macro(node)
    if macro is not None:
        member, name, _ = macro
        return _size(member, scope) if name in ("map", "filter") else 1
    if kind == "ident":
        name = str(node.children[0])
        if name in scope:
            return scope[name]
        if name in _LISTS:
            return EVIDENCE_ITEMS
        return _MAPS.get(name, EVIDENCE_ITEMS)
    if kind in ("member_dot", "member_index"):
        held = _unwrap(node.children[0])
        on_element = held.data == "ident" and (str(held.children[0]) in scope
                                               or str(held.children[0]) in _MAPS)
        return FIELD_ITEMS if on_element else EVIDENCE_ITEMS
    if kind == "list_lit":
        return len(_items(node))
    if kind == "map_lit":
        return len(_items(node)) // 2  # mapinits: key, value, key, value...
    if kind == "literal":
        return 1
    if kind == "addition" and len(node.children) == 2:  # [addition_add(left)] right
        return _size(node.children[0].children[0], scope) + _size(node.children[1], scope)
    if kind == "expr" and len(node.children) == 3:  # cond ? a : b
        return max(_size(node.children[1], scope), _size(node.children[2], scope))
    return EVIDENCE_ITEMS


def _items(literal: Any) -> list[Any]:
    """The expressions inside a list or map literal (none for ``[]`` and ``{}``)."""
    inits = _trees(literal)
    return _trees(inits[0]) if inits else []


def _element(member: Any, scope: Mapping[str, int]) -> int:
    """Upper bound of the size of one item of the list ``member`` (for nested macros)."""
    node = _unwrap(member)
    macro = _macro(node)
    if macro is not None:
        inner, name, args = macro
        if name == "filter":
            return _element(inner, scope)
        if name == "map" and args:
            body_scope = dict(scope)
            if len(args) > 1 and _bare_ident(args[0]):
                body_scope[_var(args[0])] = _element(inner, scope)
            return _size(args[-1], body_scope)
        return EVIDENCE_ITEMS
    if node.data == "ident" and (str(node.children[0]) in _LISTS
                                 or str(node.children[0]) in _MAPS):
        return FIELD_ITEMS  # an evidence item is a small map; a map's keys are strings
    if node.data == "list_lit":
        return max((_size(e, scope) for e in _items(node)), default=0)
    if node.data in ("member_dot", "member_index", "ident"):
        return FIELD_ITEMS if _size(node, scope) <= FIELD_ITEMS else EVIDENCE_ITEMS
    return EVIDENCE_ITEMS
