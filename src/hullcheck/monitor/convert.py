"""The one place the monitor calls the scanning rooms (pipeline, match, vex, report, sbom,
base, policy, sign): everything a job needs from them, and the conversion of their results
into the store's rows. Another engineer restructures ``pipeline`` and ``report``; keeping
every call here keeps that merge to this file.

The scan of an image and the re-match of stored packages judge findings the same way: the
matcher, then the config's VEX documents and ignore rules, then the triage decisions (as VEX
statements), exactly as ``hullcheck scan`` does (``judge``), so a delta re-match gives what
a new scan would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import zlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hullcheck.ecosystem import osv_ecosystem
from hullcheck.fleet.model import FindingRow, ImageRecord, LayerRecord, PackageRow, TriageDecision
from hullcheck.model import Inventory, Package
from hullcheck.signers import Keyless

if TYPE_CHECKING:
    from hullcheck import layercache
    from hullcheck.image import PullOptions
    from hullcheck.match.model import Finding
    from hullcheck.report.model import ScanReport
    from hullcheck.vex.model import IgnoreRule, Statement
    from hullcheck.vulndb import VulnStore

CACHE_PACKAGES = 200_000  # (distro, package) findings a re-matching worker keeps
SBOM_ENCODING = "zlib"  # the stored native SBOM (stdlib: no codec to agree on between nodes)
OWNER_LABELS = ("org.opencontainers.image.authors", "org.opencontainers.image.source")


# -- judging findings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Marks:
    """What marks findings: the config's VEX statements and ignore rules, and triage."""

    statements: tuple[Statement, ...] = ()
    rules: tuple[IgnoreRule, ...] = ()
    triage: tuple[Statement, ...] = ()
    waivers: tuple[IgnoreRule, ...] = ()  # triage waivers: ignore rules with an expiry


def load_marks(vex_files: Sequence[Path], ignore: Path | None,
               decisions: Iterable[TriageDecision], digest: str) -> Marks:
    from hullcheck import vex

    return Marks(statements=tuple(st for p in vex_files for st in vex.load_vex(p)),
                 rules=tuple(vex.load_ignore(ignore)) if ignore else (),
                 triage=triage_statements(decisions, digest),
                 waivers=triage_waivers(decisions))


def triage_marks(decisions: Iterable[TriageDecision], digest: str) -> Marks:
    """The marks triage alone makes: VEX decisions and waivers."""
    decisions = tuple(decisions)
    return Marks(triage=triage_statements(decisions, digest), waivers=triage_waivers(decisions))


def triage_waivers(decisions: Iterable[TriageDecision]) -> tuple[IgnoreRule, ...]:
    """Waivers (accepted risk until a day) as ignore rules: they mark the finding while
    they last; ``vex.apply`` skips (and notes) one whose day has passed."""
    from hullcheck.vex.model import IgnoreRule

    return tuple(IgnoreRule(id=d.advisory_id, package=d.package_purl, expires=d.expires,
                            reason=f"waived: {d.reason}" if d.reason else "waived",
                            source=f"waiver:{d.scope}")
                 for d in decisions if d.action == "waive")


def triage_statements(decisions: Iterable[TriageDecision], digest: str) -> tuple[Statement, ...]:
    """VEX triage decisions (for this image or its repository) as statements about this
    image: the product is its digest, the package (when named) a subcomponent."""
    from hullcheck.vex.model import Product, Statement

    out = []
    for i, d in enumerate(decisions):
        if d.action != "vex" or not d.vex_status:
            continue
        product = Product(id=digest, subcomponents=(d.package_purl,) if d.package_purl else ())
        out.append(Statement(vulnerability=(d.advisory_id,), products=(product,),
                             status=d.vex_status, justification=d.vex_justification,
                             detail=d.reason, source=f"triage:{d.scope}", order=i,
                             # image decisions after repository ones: the narrower wins
                             timestamp="1" if d.scope == "image" else "0"))
    return tuple(out)


def _image_ids(inv: Inventory) -> list[str]:
    s = inv.source
    return [i for i in (s.manifest_digest, s.config_digest, *s.repo_digests) if i]


def mark(findings: Sequence[Finding], inv: Inventory, marks: Marks, *,
         today: dt.date) -> list[Finding]:
    """The config's VEX and ignore rules, then triage (which only adds marks)."""
    from hullcheck import vex

    ids = _image_ids(inv)
    out, _ = vex.apply(findings, marks.statements, marks.rules, today=today, image_ids=ids)
    if marks.triage:
        out, _ = vex.apply(out, marks.triage, today=today, image_ids=ids)
    if marks.waivers:
        out, _ = vex.apply(out, (), marks.waivers, today=today, image_ids=ids)
    return out


def judge(inv: Inventory, store: VulnStore, marks: Marks, *, today: dt.date,
          packages: Sequence[Package] | None = None) -> list[Finding]:
    """Match (all packages, or ``packages``), summaries, then marks: what ``scan`` does."""
    from hullcheck import match

    result = match.match(inv, store, packages=packages)
    shown = match.with_summaries(result.findings, store)
    return mark(shown, inv, marks, today=today)


class Judge:
    """``judge`` for many inventories against one store (a re-match job): one matcher, so
    each advisory record is read and compiled once for all of them, and the config's VEX
    documents and ignore rules read once; triage statements are per image.

    ``cache`` (shared by the jobs of one advisory build) keeps each package's findings by
    (distro, package): images share most of their packages, and a package's findings depend
    on nothing else of the image (programs found by version string, matched with their
    image's Go build info, are always matched afresh)."""

    def __init__(self, store: VulnStore, vex_files: Sequence[Path], ignore: Path | None, *,
                 cache: dict[Any, tuple[Any, ...]] | None = None) -> None:
        from hullcheck import match

        self.store = store
        self.matcher = match.Matcher(store)
        self.config = load_marks(vex_files, ignore, (), "")
        self.summaries = _Summaries(store)
        # (distro, package) -> findings (the per-image judging of full re-matches)
        self.cache: dict[Any, tuple[Any, ...]] = {} if cache is None else cache

    def __call__(self, inv: Inventory, triage: Marks, *, today: dt.date) -> list[Finding]:
        """``triage``: the image's own marks (``triage_marks``: VEX decisions, waivers)."""
        from hullcheck import match
        from hullcheck.model import PackageType

        found: list[Finding] = []
        todo = []
        for pkg in inv.packages:
            hit = self.cache.get((inv.distro, pkg)) if pkg.type is not PackageType.BINARY \
                else None
            if hit is None:
                todo.append(pkg)
            else:
                found.extend(hit)
        if todo:
            fresh = match.with_summaries(self.matcher.match(inv, packages=todo).findings,
                                         self.summaries)
            by_package: dict[Package, list[Finding]] = {p: [] for p in todo}
            for f in fresh:
                by_package[f.package].append(f)
            if len(self.cache) > CACHE_PACKAGES:
                self.cache.clear()
            for pkg, fs in by_package.items():
                if pkg.type is not PackageType.BINARY:
                    self.cache[(inv.distro, pkg)] = tuple(fs)
            found.extend(fresh)
        found.sort(key=lambda f: (-f.severity.rank, f.package.name, f.package.version, f.id))
        marks = Marks(statements=self.config.statements, rules=self.config.rules,
                      triage=triage.triage, waivers=triage.waivers)
        return mark(found, inv, marks, today=today)


    @property
    def marks_config(self) -> bool:
        """Whether the config marks findings (VEX documents, ignore rules): then every image
        is judged on its own (a statement may name an image)."""
        return bool(self.config.statements or self.config.rules)

    def learn(self, inv: Inventory, wanted: Collection[str]) -> dict[str, list[EntryFinding]]:
        """Match the packages of ``inv`` (an image holding them, decoded from its SBOM) whose
        entry hash (``entry_hashes``) is among ``wanted``, once each: their unmarked finding
        rows by entry hash, worst first, one per (advisory, purl) (the first, as a scan keeps
        it), each with its rank (the matcher's order) and the names it answers to."""
        from hullcheck import match

        todo: list[Package] = []
        entry_of: dict[int, str] = {}
        for pkg, entry in zip(inv.packages, entry_hashes(inv), strict=True):
            if entry in wanted and entry not in entry_of.values():
                todo.append(pkg)
                entry_of[id(pkg)] = entry
        out: dict[str, list[EntryFinding]] = {entry_of[id(p)]: [] for p in todo}
        if not todo:
            return out
        found = match.with_summaries(self.matcher.match(inv, packages=todo).findings,
                                     self.summaries)
        seen: set[tuple[str, str, str]] = set()
        for f, row in zip(found, finding_rows(found, inv), strict=True):
            entry = entry_of[id(f.package)]
            if (entry, *row.key) not in seen:  # one finding per key: the first wins
                seen.add((entry, *row.key))
                names = tuple(dict.fromkeys(n.upper() for n in (row.advisory_id, *row.aliases)))
                out[entry].append(EntryFinding(rank=-f.severity.rank, row=row, names=names))
        return out


@dataclass(frozen=True, slots=True)
class EntryFinding:
    """One finding of a package entry, as a delta re-match stores it (``rematch_findings``)."""

    rank: int  # the matcher's order, worst first (ties: the package rows' order)
    row: FindingRow
    names: tuple[str, ...]  # upper-cased id and aliases (``finding_names``)


ENTRY_HASH_VERSION = "1"  # bump when what ``entry_hashes`` covers changes


def entry_hashes(inv: Inventory) -> list[str]:
    """For each package of ``inv``, the SHA-256 of everything its findings depend on: the
    whole package entry (evidence paths, CPEs, owner, arch, source, visibility, layer index
    ...), the distro, the layer it sits in, and whether a Go standard library shares its path
    (the matcher then skips the Go toolchain's own advisories). Equal hashes: equal findings,
    so a delta re-match matches each distinct hash once. ``repr`` of the frozen model
    dataclasses is deterministic and covers every field."""
    go_built = frozenset(loc.path for p in inv.packages
                         if p.type.value == "golang" and p.name == "stdlib"
                         for loc in p.locations)
    distro = repr(inv.distro)
    out = []
    for p in inv.packages:
        index = p.layer
        layer = inv.layers[index] if index is not None and index < len(inv.layers) else None
        built = any(loc.path in go_built for loc in p.locations)
        text = repr((ENTRY_HASH_VERSION, distro, p, layer, built))
        out.append(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    return out


class _Summaries:
    """The store's ``advisory()`` (what ``match.with_summaries`` reads), each advisory read
    once per job: most images share their findings' advisories."""

    def __init__(self, store: VulnStore) -> None:
        self.advisory = functools.lru_cache(maxsize=65_536)(store.advisory)
        self.lookup = store.lookup
        self.kev = store.kev


# -- scanning an image ------------------------------------------------------------------------


def scan(target: str, db: Path, pull: PullOptions, *, vex_files: Sequence[Path],
         ignore: Path | None, today: dt.date) -> ScanReport:
    """One read of the image: packages, vulnerabilities (with the config's marks), secrets
    in every layer and the configuration checks (``pipeline.scan``)."""
    from hullcheck import pipeline

    return pipeline.scan(pipeline.ScanRequest(
        target=target, db=db, pull=pull, vex=tuple(vex_files), ignore=ignore, today=today,
        scanners=("vuln", "secret", "config")))


def layer_cache(store: layercache.Store) -> contextlib.AbstractContextManager[None]:
    """Images read in the block use ``store`` for their layers' analyses."""
    from hullcheck.pipeline.images import layer_cache as using

    return using(store)


def resolve(reference: str, pull: PullOptions) -> str:
    """The digest a registry reference points at now."""
    from hullcheck.image.remote import make_client
    from hullcheck.registry import parse_reference

    with make_client(pull) as client:
        return client.resolve(parse_reference(reference))


def list_tags(repository: str, pull: PullOptions) -> tuple[str, ...]:
    from hullcheck.image.remote import make_client
    from hullcheck.registry import parse_reference

    with make_client(pull) as client:
        return client.list_tags(parse_reference(repository, default_tag=False))


def open_vulnstore(db: Path) -> VulnStore:
    from hullcheck.vulndb import VulnStore

    return VulnStore.open(db)


# -- SBOMs ------------------------------------------------------------------------------------


def encode_sbom(inv: Inventory) -> bytes:
    from hullcheck import sbom

    return zlib.compress(sbom.encode(inv, "json"), 6)


def decode_stored_sbom(encoding: str, data: bytes, *, name: str,
                       purls: Collection[str] | None = None) -> Inventory:
    """An SBOM the service stored (``encode_sbom``), with only the packages ``purls`` names
    when given: a delta re-match decodes the few packages it re-matches, not all of them.
    The bytes are this service's own encoder's output (uploads are decoded, then encoded
    again), so the standard parser reads them; the native decoder still checks every field
    of what it builds."""
    import json

    from hullcheck.errors import DatabaseError
    from hullcheck.sbom import native

    if encoding != SBOM_ENCODING:
        raise DatabaseError(f"stored SBOM of {name}: unknown encoding {encoding!r}")
    doc = json.loads(zlib.decompress(data))
    if purls is not None and isinstance(doc, dict) and isinstance(doc.get("packages"), list):
        # A Go standard library stays: the matcher reads it for the Go packages at its path.
        doc["packages"] = [p for p in doc["packages"] if isinstance(p, dict) and (
            p.get("purl") in purls or (p.get("type") == "golang" and p.get("name") == "stdlib"))]
        doc["relationships"] = []  # the matcher does not read them
    return native.decode(doc, name)


def decode_sbom(document: bytes, *, name: str) -> Inventory:
    """A CycloneDX, SPDX or native JSON SBOM (sniffed from the content); FormatError else."""
    from hullcheck import sbom

    return sbom.decode(document, name=name)


def is_native(document: bytes) -> bool:
    from hullcheck.sbom import native
    from hullcheck.sbom._reader import load_json

    return bool(native.is_native(load_json(document, "upload")))


# -- rows --------------------------------------------------------------------------------------


def package_rows(inv: Inventory) -> list[PackageRow]:
    rows = []
    for p, entry in zip(inv.packages, entry_hashes(inv), strict=True):
        rows.append(PackageRow(
            purl=p.purl, type=p.type.value, ecosystem=osv_ecosystem(p.type, inv.distro),
            name=p.name, version=p.version,
            source_name=p.source.name if p.source else "",
            source_version=p.source.version if p.source else "",
            licence=" AND ".join(f"({x})" if " " in x else x for x in p.licenses)[:1000],
            layer=p.layer, visible=p.visibility.value == "visible", entry_hash=entry))
    return rows


def finding_rows(findings: Iterable[Finding], inv: Inventory) -> list[FindingRow]:
    from hullcheck.report.json import finding as finding_json

    return [FindingRow(
        advisory_id=f.id, package_purl=f.package.purl, aliases=f.aliases,
        severity=f.severity.value, cvss=f.score.score, kev=f.kev is not None,
        fixed_versions=f.fixed_versions, status=f.status.value,
        suppressed=f.suppressed is not None,
        suppressed_reason=f.suppressed.reason if f.suppressed else "",
        data=finding_json(f, inv)) for f in findings]


def owners(inv: Inventory, rules: Iterable[tuple[bool, tuple[str, ...]]]) -> tuple[str, ...]:
    """Owners from the image's labels (authors, source), then from the repository rules
    that match (given as (matches, owners))."""
    labels = dict(inv.source.labels)
    found = [labels[k].strip() for k in OWNER_LABELS if labels.get(k, "").strip()]
    for matches, names in rules:
        if matches:
            found.extend(names)
    return tuple(dict.fromkeys(o[:500] for o in found))


def image_record(inv: Inventory, *, digest: str, repository: str, tags: Collection[str],
                 owners: tuple[str, ...], base: dict[str, Any] | None,
                 policy: dict[str, Any] | None,
                 signatures: tuple[dict[str, Any], ...]) -> ImageRecord:
    s = inv.source
    created = None
    if s.created:
        try:
            created = dt.datetime.fromisoformat(s.created.replace("Z", "+00:00"))
            created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
        except ValueError:
            created = None
    return ImageRecord(
        digest=digest, repository=repository, tags=tuple(tags), media_type="",
        created=created, labels=dict(s.labels), owners=owners,
        layers=tuple(LayerRecord(digest=la.digest, diff_id=la.diff_id, size=la.size,
                                 created_by=la.created_by[:2000]) for la in inv.layers),
        base=base, policy=policy, signatures=signatures,
        sbom=encode_sbom(inv), sbom_encoding=SBOM_ENCODING)


def secrets_json(report: ScanReport) -> list[dict[str, Any]]:
    """The secret findings as ``scan -o json`` shows them (redacted)."""
    from hullcheck.report.json import scan as scan_json

    secrets = scan_json(report).get("secrets") or {}
    found = secrets.get("findings", []) if isinstance(secrets, dict) else []
    return list(found)


def config_json(report: ScanReport) -> list[dict[str, Any]]:
    """The failed configuration checks as ``scan -o json`` shows them."""
    from hullcheck.report.json import scan as scan_json

    config = scan_json(report).get("config") or {}
    found = config.get("findings", []) if isinstance(config, dict) else []
    return list(found)


# -- base images, signatures, policy ------------------------------------------------------------


def claimed_base_host(target: str, pull: PullOptions) -> str:
    """The registry host of the base the image's annotations or labels name ("" when none):
    the image's author chose it, so the service contacts it only when it is configured."""
    from hullcheck.base.identify import claimed
    from hullcheck.errors import HullcheckError
    from hullcheck.image import open_image
    from hullcheck.registry import parse_reference

    image = open_image(target, pull=pull)
    _, name, _ = claimed(image.manifest, image.config)
    if not name:
        return ""
    try:
        return parse_reference(name, default_tag=False).registry
    except HullcheckError:
        return ""


def assess_base(target: str, db: Path, pull: PullOptions, *, catalog: Path | None,
                trust: Path | None, today: dt.date,
                allowed: Callable[[str], bool] = lambda _host: True) -> dict[str, Any]:
    """The base assessment (identity, freshness, EOL, rebuild advice) as stored JSON. A base
    named by the image in a registry ``allowed`` refuses is not contacted (no SSRF through
    an image's labels): the assessment says so instead."""
    from hullcheck import pipeline

    host = claimed_base_host(target, pull)
    if host and not allowed(host):
        return {"base": None, "trust": None, "freshness": None, "eol": None, "advice": None,
                "notes": [f"the image names a base in {host}, which is not in the service's "
                          "registries: not contacted"]}
    a = pipeline.assess_base(pipeline.BaseRequest(
        image=target, catalog=catalog, trust=trust, db=db, pull=pull, today=today))
    ident, fresh, advice = a.identity, a.freshness, a.advice
    return {
        "base": {"identifiedBy": ident.by.value, "reference": ident.reference or None,
                 "name": ident.name or None, "tag": ident.tag or None,
                 "digest": ident.digest or None, "layers": ident.layers},
        "trust": None if a.trust is None else {"state": a.trust.state.value,
                                               "reason": a.trust.reason},
        "freshness": None if fresh is None else {
            "tag": fresh.tag, "builtDigest": fresh.built_digest,
            "currentDigest": fresh.current_digest, "upToDate": fresh.up_to_date,
            "daysBehind": fresh.days_behind, "summary": fresh.sentence()},
        "eol": {"state": a.eol.state.value, "reason": a.eol.reason},
        "advice": None if advice is None else {
            "summary": advice.summary(), "base": advice.base, "candidate": advice.candidate,
            "fixedBySeverity": {lv.value: n for lv, n in advice.fixed_by_severity.items()}},
        "notes": list(a.notes),
    }


def verified_signatures(target: str, keys: Sequence[Path], pull: PullOptions, *,
                        keyless: Keyless | None = None) -> tuple[dict[str, Any], ...]:
    """The configured keys that signed the image (cosign format), one entry each, and the
    keyless signature by a configured identity (Fulcio certificate, Rekor entry) if any."""
    from hullcheck import pipeline
    from hullcheck.errors import VerificationError

    out: list[dict[str, Any]] = []
    for key in keys:
        try:
            verified = pipeline.verify_image(target, key, pull)
        except VerificationError:
            continue
        out.append({"key": str(key), "keyFingerprint": verified.key_fingerprint,
                    "source": verified.source, "format": verified.format})
    if keyless is not None:
        try:
            signed = pipeline.verify_image(target, keyless, pull)
        except VerificationError:
            return tuple(out)
        signer = getattr(signed, "signer", None)
        out.append({"identity": signer.identity if signer else "",
                    "issuer": signer.issuer if signer else "",
                    "logIndex": getattr(signed, "log_index", None),
                    "source": signed.source, "format": signed.format})
    return tuple(out)


def policy_decision(policy_file: Path, target: str, db: Path, pull: PullOptions, *,
                    vex_files: Sequence[Path], ignore: Path | None, today: dt.date,
                    base_catalog: Path | None, base_trust: Path | None,
                    allowed: Callable[[str], bool] = lambda _host: True) -> dict[str, Any]:
    """The policy's decision about the image, as ``policy -o json`` writes it. A policy with
    base rules about an image whose base is in a registry ``allowed`` refuses is not
    evaluated (its evidence would come from there)."""
    import dataclasses

    from hullcheck import pipeline
    from hullcheck.policy import Need, load
    from hullcheck.report.json import decision as decision_json
    from hullcheck.report.model import PolicyReport

    policy = load(policy_file)
    if Need.BASE in policy.needs():
        host = claimed_base_host(target, pull)
        if host and not allowed(host):
            return {"outcome": "error", "policy": policy.name,
                    "error": f"the policy judges the base, which the image names in {host}, "
                             "not in the service's registries: not contacted"}
    req = dataclasses.replace(
        pipeline.evidence_request(policy, target, db=db, pull=pull, vex=tuple(vex_files),
                                  base_trust=base_trust),
        ignore=ignore, today=today, base_catalog=base_catalog)
    _, decision = pipeline.policy_check(policy, req)
    return dict(decision_json(PolicyReport(decision=decision, policy=policy)))
