"""VEX statements and ignore rules: they *mark* findings (with the reason), never delete them.

    statements = load_vex(path)          # OpenVEX (v0.0.x and v0.2) or CycloneDX VEX
    rules = load_ignore(path)            # hullcheck's ignore file (YAML)
    findings, notes = apply(findings, statements, rules, today=date.today())
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from packageurl import PackageURL

from hullcheck.errors import FormatError
from hullcheck.match.model import Finding, Suppression

MAX_DOC = 64 << 20
SUPPRESSING = {"not_affected", "fixed", "false_positive", "resolved", "resolved_with_pedigree"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """What a statement is about: a product (an image or a package purl, a digest) and,
    optionally, the subcomponents (package purls) inside it that the statement covers."""

    id: str
    subcomponents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    vulnerability: tuple[str, ...]  # id and aliases
    products: tuple[Product, ...]  # empty = any product in this document
    status: str  # OpenVEX status, or the CycloneDX analysis state
    justification: str = ""
    detail: str = ""
    source: str = ""
    timestamp: str = ""  # OpenVEX statement (or document) timestamp; later statements win
    order: int = 0  # position across the loaded documents, for equal timestamps


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRule:
    id: str
    reason: str
    package: str = ""  # a name or a purl; "" = any package
    expires: date | None = None
    source: str = ""


def _read(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_DOC:
            raise FormatError(f"{path}: {what} larger than {MAX_DOC} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def load_vex(path: Path) -> list[Statement]:
    data = _read(path, "VEX document")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: VEX document is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: VEX document must be a JSON object")
    if "statements" in doc:
        return _openvex(doc, str(path))
    if doc.get("bomFormat") == "CycloneDX" or "vulnerabilities" in doc:
        return _cyclonedx(doc, str(path))
    raise FormatError(f"{path}: neither an OpenVEX nor a CycloneDX VEX document")


def _ids(v: Any, where: str) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if isinstance(v, dict):
        out = [v.get("name") or v.get("@id") or ""]
        aliases = v.get("aliases") or []
        if not isinstance(aliases, list):
            raise FormatError(f"{where}: vulnerability aliases must be a list")
        out.extend(str(a) for a in aliases)
        return tuple(str(x) for x in out if x)
    raise FormatError(f"{where}: vulnerability must be a string or an object")


def _openvex(doc: dict[str, Any], source: str) -> list[Statement]:
    statements = doc["statements"]
    if not isinstance(statements, list):
        raise FormatError(f"{source}: 'statements' must be a list")
    out = []
    for i, st in enumerate(statements):
        where = f"{source}: statements[{i}]"
        if not isinstance(st, dict):
            raise FormatError(f"{where} must be an object")
        status = st.get("status")
        if status not in ("not_affected", "affected", "fixed", "under_investigation"):
            raise FormatError(f"{where}: unknown status {status!r}")
        if status == "not_affected" and not (st.get("justification") or st.get("impact_statement")):
            raise FormatError(f"{where}: not_affected needs a justification or impact_statement")
        products = tuple(_openvex_product(prod, where) for prod in st.get("products") or [])
        timestamp = st.get("timestamp") or doc.get("timestamp") or ""
        out.append(Statement(
            vulnerability=_ids(st.get("vulnerability"), where),
            products=tuple(p for p in products if p.id or p.subcomponents),
            status=str(status),
            justification=str(st.get("justification") or ""),
            detail=str(st.get("impact_statement") or st.get("status_notes") or ""),
            source=source,
            timestamp=str(timestamp),
            order=i,
        ))
    return out


def _component_id(c: Any, where: str) -> str:
    """An OpenVEX component: a string, or an object with ``@id`` and/or
    ``identifiers.purl`` (the purl is preferred: it is what packages are matched by)."""
    if isinstance(c, str):
        return c
    if not isinstance(c, dict):
        raise FormatError(f"{where}: products and subcomponents must be strings or objects")
    ids = c.get("identifiers")
    if isinstance(ids, dict) and isinstance(ids.get("purl"), str):
        return str(ids["purl"])
    return str(c.get("@id") or "")


def _openvex_product(prod: Any, where: str) -> Product:
    subs = prod.get("subcomponents") if isinstance(prod, dict) else None
    if subs is not None and not isinstance(subs, list):
        raise FormatError(f"{where}: subcomponents must be a list")
    return Product(id=_component_id(prod, where),
                   subcomponents=tuple(x for x in (_component_id(c, where) for c in subs or [])
                                       if x))


def _cyclonedx(doc: dict[str, Any], source: str) -> list[Statement]:
    vulns = doc.get("vulnerabilities") or []
    if not isinstance(vulns, list):
        raise FormatError(f"{source}: 'vulnerabilities' must be a list")
    refs: dict[str, str] = {}
    for comp in doc.get("components") or []:
        if isinstance(comp, dict) and comp.get("bom-ref") and comp.get("purl"):
            refs[str(comp["bom-ref"])] = str(comp["purl"])
    out = []
    for i, v in enumerate(vulns):
        where = f"{source}: vulnerabilities[{i}]"
        if not isinstance(v, dict) or not v.get("id"):
            raise FormatError(f"{where} needs an id")
        analysis = v.get("analysis") or {}
        if not isinstance(analysis, dict):
            raise FormatError(f"{where}: analysis must be an object")
        state = str(analysis.get("state") or "")
        if not state:
            continue  # no analysis: a plain finding, not a VEX statement
        aliases = [str(r.get("id")) for r in v.get("references") or [] if isinstance(r, dict)]
        products = []
        for a in v.get("affects") or []:
            if isinstance(a, dict) and a.get("ref"):
                ref = str(a["ref"])
                # a BOM-Link (urn:cdx:SERIAL/VERSION#bom-ref) names a component of another BOM
                frag = urllib.parse.unquote(ref.split("#", 1)[1]) if ref.startswith(
                    "urn:cdx:") and "#" in ref else ref
                products.append(Product(id=refs.get(ref) or refs.get(frag) or frag))
        out.append(Statement(
            vulnerability=(str(v["id"]), *aliases),
            products=tuple(products),
            status=state,
            justification=str(analysis.get("justification") or ""),
            detail=str(analysis.get("detail") or ""),
            source=source,
        ))
    return out


def load_ignore(path: Path) -> list[IgnoreRule]:
    data = _read(path, "ignore file")
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise FormatError(f"{path}:{line} not valid YAML") from None
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("ignore", []), list):
        raise FormatError(f"{path}: expected a mapping with an 'ignore' list")
    rules = []
    for i, item in enumerate(doc.get("ignore") or []):
        where = f"{path}: ignore[{i}]"
        if not isinstance(item, dict):
            raise FormatError(f"{where} must be a mapping")
        unknown = set(item) - {"id", "reason", "package", "expires"}
        if unknown:
            raise FormatError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        if not item.get("id") or not item.get("reason"):
            raise FormatError(f"{where}: 'id' and 'reason' are required")
        expires = item.get("expires")
        if expires is not None and not isinstance(expires, date):
            try:
                expires = date.fromisoformat(str(expires))
            except ValueError:
                raise FormatError(f"{where}: expires {expires!r} is not a YYYY-MM-DD date") from None
        rules.append(IgnoreRule(id=str(item["id"]), reason=str(item["reason"]),
                                package=str(item.get("package") or ""), expires=expires,
                                source=str(path)))
    return rules


def _purl_matches(product: str, purl: str) -> bool:
    if product == purl:
        return True
    try:
        want = PackageURL.from_string(product)
        have = PackageURL.from_string(purl)
    except ValueError:
        return False
    if (want.type, want.namespace, want.name) != (have.type, have.namespace, have.name):
        return False
    if want.version and want.version != have.version:
        return False
    have_q = have.qualifiers if isinstance(have.qualifiers, dict) else {}
    want_q = want.qualifiers if isinstance(want.qualifiers, dict) else {}
    return all(have_q.get(k) == v for k, v in want_q.items())


def _image_match(product: str, image_ids: Sequence[str]) -> bool:
    """Whether a product names the scanned image: its digest, or a ``pkg:oci`` purl whose
    version is one of the image's digests (manifest, config or repo digest)."""
    if not image_ids:
        return False
    if product in image_ids:
        return True
    if product.startswith("pkg:oci/"):
        try:
            version = PackageURL.from_string(product).version or ""
        except ValueError:
            return False
        return bool(version) and version in image_ids
    return False


def _package_match(product: str, finding: Finding) -> bool:
    return product.startswith("pkg:") and _purl_matches(product, finding.package.purl)


def _applies(st: Statement, finding: Finding, image_ids: Sequence[str]) -> bool:
    if not st.products:
        return True
    for prod in st.products:
        if prod.subcomponents:
            # OpenVEX: the product (an image) holds the subcomponents (its packages)
            inside = (not prod.id or _image_match(prod.id, image_ids)
                      or _package_match(prod.id, finding))
            if inside and any(_package_match(sub, finding) for sub in prod.subcomponents):
                return True
        elif _image_match(prod.id, image_ids) or _package_match(prod.id, finding):
            return True
    return False


def _image_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """Digests identifying the image; ``NAME@sha256:...`` repo digests give their digest."""
    out = []
    for i in ids:
        out.append(i)
        if "@" in i:
            out.append(i.rsplit("@", 1)[1])
    return tuple(dict.fromkeys(out))


def apply(
    findings: Sequence[Finding],
    statements: Sequence[Statement] = (),
    rules: Sequence[IgnoreRule] = (),
    *,
    today: date,
    image_ids: Iterable[str] = (),
) -> tuple[list[Finding], list[str]]:
    """Mark findings suppressed by a VEX statement or an ignore rule. Returns the findings
    (same order, none dropped) and notes for the user (expired rules, unused rules)."""
    image_ids = _image_ids(image_ids)
    # OpenVEX: for one vulnerability and product the latest statement wins (a later
    # "affected" withdraws an earlier "not_affected"); ties go to the later one loaded.
    ordered = sorted(enumerate(statements), key=lambda t: (t[1].timestamp, t[0]), reverse=True)
    notes: list[str] = []
    live_rules = []
    for r in rules:
        if r.expires is not None and r.expires < today:
            notes.append(f"ignore rule for {r.id} expired on {r.expires.isoformat()} "
                         f"({r.source}); it no longer applies")
        else:
            live_rules.append(r)
    out = []
    for f in findings:
        ids = set(f.ids)
        sup = None
        for _, st in ordered:
            if ids.isdisjoint(st.vulnerability) or not _applies(st, f, image_ids):
                continue
            if st.status in SUPPRESSING:
                reason = st.justification or st.status
                if st.detail:
                    reason = f"{reason}: {st.detail}"
                sup = Suppression(by=f"vex:{st.source}", reason=reason)
            break  # the latest applicable statement decides
        if sup is None:
            for r in live_rules:
                if r.id in ids and (not r.package or r.package in (f.package.name, f.package.purl)
                                    or _purl_matches(r.package, f.package.purl)):
                    sup = Suppression(by=f"ignore:{r.source}", reason=r.reason,
                                      expires=r.expires.isoformat() if r.expires else "")
                    break
        out.append(dataclasses.replace(f, suppressed=sup) if sup else f)
    return out, notes
