"""Reading VEX documents: OpenVEX (v0.0.x and v0.2) and CycloneDX VEX, as statements.

Every field is type-checked (a wrong type is a one-line error naming the file and the
statement); products are kept only in forms ``products.identify`` can match, and what a
statement named that cannot be matched is kept in ``Statement.ignored`` for the note.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.vex import products
from hullcheck.vex.model import Product, Statement

MAX_DOC = 64 << 20
OPENVEX_STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
CYCLONEDX_STATES = ("resolved", "resolved_with_pedigree", "exploitable", "in_triage",
                    "false_positive", "not_affected")
_HASHES = {"sha-256": "sha256", "sha-512": "sha512"}  # OpenVEX hash names -> digest algorithm


def load_vex(path: Path) -> list[Statement]:
    data = untrusted.read_file(path, what="VEX document", limit=MAX_DOC)
    doc = untrusted.json_object(data, what=f"{path}: VEX document")
    if "statements" in doc:
        return _openvex(doc, str(path))
    if doc.get("bomFormat") == "CycloneDX" or "vulnerabilities" in doc:
        return _cyclonedx(doc, str(path))
    raise FormatError(f"{path}: neither an OpenVEX nor a CycloneDX VEX document")


# -- typed fields ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    """A string field; "" when absent or null."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{where}: {key} must be a string, not {_kind(value)}")
    return value


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FormatError(f"{where}: {key} must be a list, not {_kind(value)}")
    return value


def _object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FormatError(f"{where}: {key} must be an object, not {_kind(value)}")
    return value


def _strings(obj: dict[str, Any], key: str, where: str) -> list[str]:
    items = _list(obj, key, where)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise FormatError(f"{where}: {key}[{i}] must be a string, not {_kind(item)}")
    return items


# -- OpenVEX -----------------------------------------------------------------------------------


def _openvex(doc: dict[str, Any], source: str) -> list[Statement]:
    statements = _list(doc, "statements", source)
    doc_time = _text(doc, "timestamp", source)
    out = []
    for i, st in enumerate(statements):
        where = f"{source}: statements[{i}]"
        if not isinstance(st, dict):
            raise FormatError(f"{where} must be an object, not {_kind(st)}")
        status = _text(st, "status", where)
        if status not in OPENVEX_STATUSES:
            raise FormatError(f"{where}: unknown status {status!r}; one of "
                              f"{', '.join(OPENVEX_STATUSES)}")
        justification = _text(st, "justification", where)
        impact = _text(st, "impact_statement", where)
        if status == "not_affected" and not (justification or impact):
            raise FormatError(f"{where}: not_affected needs a justification or impact_statement")
        named, ignored = _openvex_products(st, where)
        out.append(Statement(
            vulnerability=_vulnerability(st.get("vulnerability"), where),
            products=named, ignored=ignored, status=status, justification=justification,
            detail=impact or _text(st, "status_notes", where), source=source,
            timestamp=_text(st, "timestamp", where) or doc_time, order=i,
        ))
    return out


def _vulnerability(v: Any, where: str) -> tuple[str, ...]:
    """The id and aliases: v0.0.x gives a string, v0.2 an object {name, @id, aliases}."""
    if isinstance(v, str):
        ids = [v]
    elif isinstance(v, dict):
        ids = [_text(v, "name", where), _text(v, "@id", where),
               *_strings(v, "aliases", f"{where}: vulnerability")]
    else:
        raise FormatError(f"{where}: vulnerability must be a string or an object, not {_kind(v)}")
    ids = [i for i in ids if i]
    if not ids:
        raise FormatError(f"{where}: vulnerability has no name")
    return tuple(dict.fromkeys(ids))


def _component(c: Any, where: str) -> tuple[str, str]:
    """(matchable id or "", what it named): a string, or an object whose
    ``identifiers.purl``, ``@id`` or ``hashes`` (sha-256, sha-512) names it."""
    if isinstance(c, str):
        return products.identify(c), c
    if not isinstance(c, dict):
        raise FormatError(f"{where}: products and subcomponents must be strings or objects, "
                          f"not {_kind(c)}")
    ids, hashes = _object(c, "identifiers", where), _object(c, "hashes", where)
    names = [_text(ids, "purl", where), _text(c, "@id", where)]
    names += [f"{algo}:{_text(hashes, name, where).lower()}"
              for name, algo in _HASHES.items() if _text(hashes, name, where)]
    for name in names:
        usable = products.identify(name) if name else ""
        if usable:
            return usable, name
    shown = next((n for n in names if n), "") or _text(ids, "cpe23", where) \
        or _text(ids, "cpe22", where)
    return "", shown or "an empty product {}"


def _openvex_products(st: dict[str, Any], where: str) -> tuple[tuple[Product, ...],
                                                                tuple[str, ...]]:
    # v0.0.x lists the subcomponents beside the products; they narrow every product
    shared = [_component(c, where) for c in _list(st, "subcomponents", where)]
    listed = _list(st, "products", where)
    named: list[Product] = []
    ignored: list[str] = [] if listed else ["no product"]
    for prod in listed:
        pid, shown = _component(prod, where)
        subs = [_component(c, where) for c in (
            _list(prod, "subcomponents", where) if isinstance(prod, dict) else [])] + shared
        ignored += [s for sid, s in subs if not sid]
        usable = tuple(dict.fromkeys(sid for sid, _ in subs if sid))
        if not pid:
            ignored.append(shown)
        elif subs and not usable:  # scoped to parts we cannot name: not the whole product
            ignored.append(f"{shown} (none of its subcomponents)")
        else:
            named.append(Product(id=pid, subcomponents=usable))
    return tuple(named), tuple(ignored)


# -- CycloneDX ---------------------------------------------------------------------------------


def _cyclonedx(doc: dict[str, Any], source: str) -> list[Statement]:
    vulns = _list(doc, "vulnerabilities", source)
    refs = _bom_refs(doc, source)
    out = []
    for i, v in enumerate(vulns):
        where = f"{source}: vulnerabilities[{i}]"
        if not isinstance(v, dict):
            raise FormatError(f"{where} must be an object, not {_kind(v)}")
        vid = _text(v, "id", where)
        if not vid:
            raise FormatError(f"{where} needs an id")
        analysis = _object(v, "analysis", where)
        state = _text(analysis, "state", f"{where}: analysis")
        if not state:
            continue  # no analysis: a plain finding, not a VEX statement
        if state not in CYCLONEDX_STATES:
            raise FormatError(f"{where}: unknown analysis state {state!r}; one of "
                              f"{', '.join(CYCLONEDX_STATES)}")
        aliases = []
        for j, ref in enumerate(_list(v, "references", where)):
            if not isinstance(ref, dict):
                raise FormatError(f"{where}: references[{j}] must be an object, not {_kind(ref)}")
            aliases.append(_text(ref, "id", f"{where}: references[{j}]"))
        named, ignored = _affects(v, refs, where)
        out.append(Statement(
            vulnerability=tuple(dict.fromkeys(x for x in (vid, *aliases) if x)),
            products=named, ignored=ignored, status=state,
            justification=_text(analysis, "justification", f"{where}: analysis"),
            detail=_text(analysis, "detail", f"{where}: analysis"), source=source, order=i,
        ))
    return out


def _bom_refs(doc: dict[str, Any], source: str) -> dict[str, str]:
    """bom-ref -> purl of the BOM's subject (metadata.component) and every component,
    nested ones included."""
    meta = _object(doc, "metadata", source)
    stack = [c for c in [meta.get("component")] if c is not None]
    stack += _list(doc, "components", source)
    refs: dict[str, str] = {}
    while stack:
        comp = stack.pop()
        if not isinstance(comp, dict):
            raise FormatError(f"{source}: a component must be an object, not {_kind(comp)}")
        ref, purl = _text(comp, "bom-ref", source), _text(comp, "purl", source)
        if ref and purl:
            refs[ref] = purl
        stack.extend(_list(comp, "components", source))
    return refs


def _affects(v: dict[str, Any], refs: dict[str, str],
             where: str) -> tuple[tuple[Product, ...], tuple[str, ...]]:
    affects = _list(v, "affects", where)
    named: list[Product] = []
    ignored: list[str] = [] if affects else ["no product"]
    for j, a in enumerate(affects):
        if not isinstance(a, dict):
            raise FormatError(f"{where}: affects[{j}] must be an object, not {_kind(a)}")
        ref = _text(a, "ref", f"{where}: affects[{j}]")
        pid = products.identify(_resolve(ref, refs))
        if not pid:
            ignored.append(ref or "an empty affects ref")
            continue
        versions = _list(a, "versions", f"{where}: affects[{j}]")
        if not versions:
            named.append(Product(id=pid))
            continue
        # affects[].versions narrows the statement to those versions of the component: it
        # must never widen to every version. A vers range is not evaluated: it names nothing.
        for k, item in enumerate(versions):
            at = f"{where}: affects[{j}].versions[{k}]"
            if not isinstance(item, dict):
                raise FormatError(f"{at} must be an object, not {_kind(item)}")
            version, vers = _text(item, "version", at), _text(item, "range", at)
            if _text(item, "status", at) == "affected":
                continue  # the analysis does not cover a version this entry says is affected
            narrowed = products.with_version(pid, version) if version else ""
            if narrowed:
                named.append(Product(id=narrowed))
            else:
                ignored.append(f"{ref} {vers or version or 'an empty version'}".strip())
    return tuple(named), tuple(ignored)


def _resolve(ref: str, refs: dict[str, str]) -> str:
    """A component reference as a purl (or digest) when it can be: a bom-ref of this
    BOM, a BOM-Link ``urn:cdx:SERIAL/VERSION#bom-ref`` to another, or a purl itself."""
    if ref.startswith("urn:cdx:"):
        _, sep, frag = ref.partition("#")
        if not sep:
            return ""  # a BOM-Link to a whole BOM names no component
        ref = urllib.parse.unquote(frag)
    return refs.get(ref, ref)
