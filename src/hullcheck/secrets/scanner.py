"""The secret scanner: a ``filetree.ContentSink`` that sees every file of every layer once.

    scanner = Scanner(config)
    tree = filetree.build(image, globs, sink=scanner)   # the one read of the layers
    report = scanner.report(tree, image)                # + Env, Labels, Cmd, history

For each file: skip it when its path is allow-listed, its extension is a known binary
one, or it is over the size limit (counted, never read); skip it when a NUL byte is in
its first 8 KiB (binary, counted: the scanner is a ``SniffingSink``, so the rest of a binary
file is skipped, not gathered); otherwise one prefilter pass tells which rules can match (by
their keywords and, with hyperscan, their gates: ``engine``), and only those rules'
expressions run. Where two rules claim the same bytes,
the earlier (more specific) rule wins. The tree, once built, says for each hit whether
the file is still visible and which layer deleted it.

Distro files: the scanner keeps the digests of each file it found a match in (only those:
hashing every file would cost as much as scanning it). Given what the image's package
databases recorded of their files' content (``package_files``: path -> digests), a match in
a file an OS package installed and nobody changed since is the distro's, not a user's
secret: it is counted, not reported. A package file whose content differs, and every file
no package owns, are reported wherever they are. A match in a language package's tests,
examples or documentation is reported with low confidence (``paths``).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from hullcheck import filetree
from hullcheck.filetree import ContentSink, FileTree
from hullcheck.image.model import Image
from hullcheck.model import FILE_DIGEST_HEX, Layer
from hullcheck.secrets.config import SecretConfig
from hullcheck.secrets.engine import Prefilter, export, load
from hullcheck.secrets.model import Confidence, Origin, SecretFinding, SecretReport, Skipped
from hullcheck.secrets.paths import example_reason
from hullcheck.secrets.rules import RULES, Rule, is_placeholder, shannon_entropy

SNIFF = 8192  # a NUL byte in this many first bytes marks a binary file
REDACTED = "*****"
_BINARY_EXT_WORDS = """a o ko so pyc pyo class jar war ear zip whl egg gz tgz bz2 xz lz lz4 lzma
    zst 7z rar deb rpm apk png jpg jpeg gif bmp ico webp tif tiff icns woff woff2 ttf otf eot pfb
    pcf pdf mo gmo db sqlite sqlite3 mp3 mp4 ogg wav flac avi mkv exe dll node wasm bin"""
BINARY_EXTENSIONS = frozenset(_BINARY_EXT_WORDS.split())


def is_binary_name(path: str) -> bool:
    base = path[path.rfind("/") + 1:]
    dot = base.rfind(".")
    if dot <= 0:
        return False
    if base[dot + 1:].lower() in BINARY_EXTENSIONS:
        return True
    return ".so." in base  # libfoo.so.1.2


def redact(secret: str) -> str:
    """At most the first 4 characters, and never more than a quarter of the secret."""
    return secret[: min(4, len(secret) // 4)] + REDACTED


def _squash(data: bytes) -> str:
    return " ".join(data.decode("utf-8", "replace").split())


@dataclass(frozen=True, slots=True)
class Hit:
    """One match in one buffer, secret already redacted."""

    rule: Rule
    line: int
    match: str
    start: int = 0  # the secret's span in the buffer
    end: int = 0


@dataclass(frozen=True, slots=True)
class _FileHit:
    layer: int
    path: str
    hit: Hit


class _Found(NamedTuple):
    """A match of one rule in one buffer, before the rules' claims are settled."""

    rule: int  # index in the scanner's rules: an earlier one's claim wins
    start: int  # the secret's span
    end: int
    at: int  # where the match starts (its line is the finding's)
    shown: str


def _first_claims(found: list[_Found]) -> list[_Found]:
    """``found`` (in rule order) less each match whose secret overlaps one kept before it.
    The kept spans never overlap, so only the last one starting before a span's end can
    overlap it: a bisection each, not a comparison with every one kept."""
    starts: list[int] = []  # of the kept spans, sorted; their ends in the same order
    ends: list[int] = []
    kept: list[_Found] = []
    for f in found:
        i = bisect.bisect_left(starts, f.end)
        if i and ends[i - 1] > f.start:
            continue
        starts.insert(i, f.start)
        ends.insert(i, f.end)
        kept.append(f)
    return kept


class Scanner:
    """Thread-safe ``ContentSink``; ``report()`` once the tree is built."""

    def __init__(self, config: SecretConfig | None = None, *, engine: str | None = None) -> None:
        self.config = config or SecretConfig()
        self._engine_asked = engine
        rules = self.config.active_rules
        self._rules: list[tuple[Rule, re.Pattern[bytes], re.Pattern[str] | None]] = [
            (r, r.compiled(), r.path_pattern()) for r in rules
        ]
        keywords: list[str] = []
        self._by_keyword: list[list[int]] = []
        self._always: list[int] = []
        for i, r in enumerate(rules):
            if not r.keywords:
                self._always.append(i)
            for kw in r.keywords:
                k = kw.lower()
                if k not in keywords:
                    keywords.append(k)
                    self._by_keyword.append([])
                self._by_keyword[keywords.index(k)].append(i)
        self._keyword_index = {k: i for i, k in enumerate(keywords)}
        # The built-in rules' gates (``Rule.gate``), reported after the keywords.
        gates: list[str] = []
        self._gate: list[int | None] = []
        for r in rules:
            if r.gate and r in RULES:
                gates.append(r.gate)
                self._gate.append(len(keywords) + len(gates) - 1)
            else:
                self._gate.append(None)
        self._prefilter = Prefilter(keywords, engine, gates)
        # (keyword ids present, gated) -> the rules to run: a dict set and read whole, so
        # threads sharing it need no lock.
        self._memo: dict[tuple[frozenset[int], bool], list[int]] = {}
        self.engine = self._prefilter.engine
        cfg = self.config
        self._allow_path = re.compile("|".join(f"(?:{p})" for p in cfg.allow_paths)) \
            if cfg.allow_paths else None
        self._allow_value = re.compile(b"|".join(b"(?:%s)" % p.encode() for p in
                                                 cfg.allow_regexes)) if cfg.allow_regexes else None
        self._lock = threading.Lock()
        self._hits: list[_FileHit] = []
        # (layer, path) -> "algorithm:hex" digests of each file with a hit, to tell a package's
        # unchanged file (Package.file_digests' algorithms) from a changed one.
        self._digests: dict[tuple[int, str], frozenset[str]] = {}
        self._binary = self._too_large = self._allowlisted = 0
        self._files = self._bytes = 0

    # -- ContentSink ----------------------------------------------------------------
    def wants(self, path: str, size: int, _matched: bool = False) -> bool:
        if size == 0:
            return False
        if self._allow_path is not None and self._allow_path.search(path):
            with self._lock:
                self._allowlisted += 1
            return False
        if is_binary_name(path):
            with self._lock:
                self._binary += 1
            return False
        if size > self.config.max_file_size:
            with self._lock:
                self._too_large += 1
            return False
        return True

    # ``wants``, as a layer reader asks it of every file: the one call, no wrapper in between.
    wants_matched = wants

    head_size = SNIFF  # a SniffingSink: a binary file's rest is not even gathered

    def wants_head(self, path: str, head: bytes) -> bool:
        if head.find(b"\0") >= 0:
            with self._lock:
                self._binary += 1
            return False
        return True

    def take(self, layer: int, path: str, data: bytes) -> None:
        if data.find(b"\0", 0, SNIFF) >= 0:  # when wants_head was not asked
            with self._lock:
                self._binary += 1
            return
        hits = self.scan_bytes(data, path, gated=True)
        digests = _digests(data) if hits else None  # most files have none
        with self._lock:
            self._files += 1
            self._bytes += len(data)
            if digests is not None:
                self._hits.extend(_FileHit(layer, path, h) for h in hits)
                self._digests[layer, path] = digests

    # -- matching -------------------------------------------------------------------
    def scan_bytes(self, data: bytes, path: str | None = None, *,
                   gated: bool = False) -> list[Hit]:
        """Matches in one buffer. ``path`` is the file's (path-limited rules need one).
        ``gated``: the rules' gates are looked for too (a file's scan: the gated prefilter
        is compiled once, ~25 ms, at the first), the same matches found."""
        present = self._prefilter.hits(data, gated=gated)
        if not present and not self._always:  # most files: no keyword at all
            return []
        key = (frozenset(present), gated)
        candidates = self._memo.get(key)
        if candidates is None:  # the same few keyword sets recur file after file
            candidates = self._memo[key] = self._candidates(present, gated=gated)
        if not candidates:
            return []
        found: list[_Found] = []
        lowered: bytes | None = None
        for ri in candidates:
            rule, rx, path_rx = self._rules[ri]
            if path_rx is not None and (path is None or not path_rx.search(path)):
                continue
            if rule.multiline or not rule.keywords:
                windows: Iterable[tuple[int, int]] = ((0, len(data)),)
            else:
                if lowered is None:
                    lowered = data.lower()
                windows = _keyword_lines(lowered, [kw for kw in rule.keywords
                                                   if self._keyword_index[kw] in present])
            for start, end in windows:
                for m in rx.finditer(data, start, end):
                    shown = self._check(rule, rx, m, data)
                    if shown is not None:
                        found.append(_Found(ri, *_secret_span(rx, m), m.start(), shown))
        return self._as_hits(_first_claims(found), data)

    def _as_hits(self, kept: list[_Found], data: bytes) -> list[Hit]:
        """``kept`` as hits, by position; each one's line counted from the one before (not
        from the buffer's start: a large file's many matches cost one pass, not one each)."""
        kept.sort(key=lambda f: (f.start, f.rule))
        lines: dict[int, int] = {}
        pos, line = 0, 1
        for at in sorted({f.at for f in kept}):
            line += data.count(b"\n", pos, at)
            lines[at], pos = line, at
        return [Hit(rule=self._rules[f.rule][0], line=lines[f.at], match=f.shown,
                    start=f.start, end=f.end) for f in kept]

    def _candidates(self, present: set[int], *, gated: bool = False) -> list[int]:
        """The rules to run, in order, given the prefilter's ``present`` ids: those with a
        keyword present (or none declared), less, when ``gated``, those whose gate is not."""
        candidates = set(self._always)
        for k in present:
            if k < len(self._by_keyword):
                candidates.update(self._by_keyword[k])
        if gated and candidates and self._prefilter.gating:
            gate = self._gate
            candidates = {ri for ri in candidates if gate[ri] is None or gate[ri] in present}
        return sorted(candidates)

    def _check(self, rule: Rule, rx: re.Pattern[bytes], m: re.Match[bytes],
               data: bytes) -> str | None:
        """What a match shows, its secret redacted; None when it is not a secret."""
        s, e = _secret_span(rx, m)
        secret = data[s:e]
        if not secret:
            return None
        if rule.entropy and shannon_entropy(secret) < rule.entropy:
            return None
        if rule.reject_placeholders and is_placeholder(secret):
            return None
        if self._allow_value is not None and (
            self._allow_value.search(secret) or self._allow_value.search(m.group(0))
        ):
            return None
        # What leads up to the secret, then its redacted form. Nothing after it: a rule's
        # trailing context can hold more of the secret (the last line of a PEM body).
        return _squash(data[m.start():s])[-60:] + redact(secret.decode("utf-8", "replace"))

    # -- one layer's analysis -------------------------------------------------------
    def spec(self) -> SecretSpec:
        """This scanner as part of each layer's analysis (cached with the layer's index);
        ``absorb`` then takes what it found in each layer."""
        return SecretSpec(self.config, self._engine_asked)

    def layer_result(self) -> bytes:
        """What this scanner found, as one layer's findings (the layer left out)."""
        with self._lock:
            hits = [(fh.path, fh.hit.rule.id, fh.hit.line, fh.hit.match, fh.hit.start,
                     fh.hit.end) for fh in self._hits]
            digests = [(path, sorted(d)) for (_, path), d in self._digests.items()]
            return msgspec.msgpack.encode(_LayerSecrets(
                hits, digests, self._binary, self._too_large, self._allowlisted, self._files,
                self._bytes))

    def absorb(self, parts: Sequence[tuple[int, bytes]]) -> None:
        """Add each layer's findings (``layer_result``), as (layer index, bytes)."""
        rules = {r.id: r for r, _, _ in self._rules}
        for layer, data in parts:
            found = _SECRETS.decode(data)
            with self._lock:
                self._hits.extend(_FileHit(layer, path, Hit(rule=rules[rule], line=line,
                                                             match=match, start=s, end=e))
                                  for path, rule, line, match, s, e in found.hits)
                self._digests.update(((layer, path), frozenset(d)) for path, d in found.digests)
                self._binary += found.binary
                self._too_large += found.too_large
                self._allowlisted += found.allowlisted
                self._files += found.files
                self._bytes += found.bytes

    # -- results --------------------------------------------------------------------
    @property
    def found_in_files(self) -> bool:
        """Whether a file of a layer matched (the package databases matter only then)."""
        with self._lock:
            return bool(self._hits)

    def report(self, tree: FileTree, image: Image, *,
               package_files: Mapping[str, Collection[str]] | None = None) -> SecretReport:
        """The findings, once the tree is built. ``package_files``: the content the image's
        package databases recorded of each file (path -> "md5:<hex>"... digests); a match in a
        file whose bytes are one of those is counted, not reported. None: report every match."""
        layers = tree.layers

        def layer_at(i: int | None) -> Layer | None:
            return layers[i] if i is not None and 0 <= i < len(layers) else None

        findings: list[SecretFinding] = []
        distro_files: set[tuple[int, str]] = set()
        distro_matches = 0
        for fh in self._hits:
            recorded = package_files.get(fh.path) if package_files is not None else None
            if recorded and not self._digests.get((fh.layer, fh.path), frozenset()).isdisjoint(
                    recorded):
                distro_files.add((fh.layer, fh.path))
                distro_matches += 1
                continue
            entry = tree.written_by(fh.path, fh.layer)
            path = fh.path if entry is None else entry.path  # a symlinked parent moves it
            visible = entry is not None and tree.is_visible(entry)
            deleted = tree.deleted_at(entry) if entry is not None and not visible else None
            h = fh.hit
            why_low = example_reason(path)
            findings.append(SecretFinding(
                rule_id=h.rule.id, title=h.rule.title, severity=h.rule.severity,
                origin=Origin.FILE, path=path, line=h.line, match=h.match,
                layer=layer_at(fh.layer), deleted_by=layer_at(deleted), visible=visible,
                confidence=Confidence.LOW if why_low else Confidence.HIGH, why_low=why_low,
            ))
        findings.extend(self.scan_config(image))
        order = list(Origin)
        findings.sort(key=lambda f: (order.index(f.origin),
                                     -1 if f.layer is None else f.layer.index,
                                     f.path, f.line, f.rule_id))
        with self._lock:
            skipped = Skipped(binary=self._binary, too_large=self._too_large,
                              allowlisted=self._allowlisted, package_files=len(distro_files),
                              package_matches=distro_matches)
            files, nbytes = self._files, self._bytes
        return SecretReport(source=image.source, layers=layers, findings=tuple(findings),
                            skipped=skipped, files_scanned=files, bytes_scanned=nbytes,
                            engine=self.engine)

    def redact_text(self, text: str) -> str:
        """``text`` with every secret the rules find in it redacted: for display of image
        metadata (history lines, Env) anywhere else in hullcheck's output."""
        data = text.encode("utf-8", "surrogateescape")
        hits = self.scan_bytes(data)
        if not hits:
            return text
        out = bytearray()
        pos = 0
        for h in sorted(hits, key=lambda h: h.start):
            if h.start < pos:
                continue
            out += data[pos:h.start]
            out += redact(data[h.start:h.end].decode("utf-8", "replace")).encode()
            pos = h.end
        out += data[pos:]
        return out.decode("utf-8", "replace")

    def scan_config(self, image: Image) -> list[SecretFinding]:
        """Secrets in the image config: Env, Labels, Cmd/Entrypoint and history lines."""
        out: list[SecretFinding] = []
        for origin, path, text, layer in _config_texts(image):
            for h in self.scan_bytes(text.encode("utf-8", "replace")):
                out.append(SecretFinding(
                    rule_id=h.rule.id, title=h.rule.title, severity=h.rule.severity,
                    origin=origin, path=path, line=h.line, match=h.match, layer=layer,
                ))
        return out


def _digests(data: bytes) -> frozenset[str]:
    """``data``'s digest in every algorithm a package database records (Package.file_digests'
    "algorithm:hex" form)."""
    return frozenset(f"{a}:{hashlib.new(a, data, usedforsecurity=False).hexdigest()}"
                     for a in FILE_DIGEST_HEX)


class _LayerSecrets(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    hits: list[tuple[str, str, int, str, int, int]]  # path, rule, line, match, start, end
    digests: list[tuple[str, list[str]]]  # path, "algorithm:hex" of each file with a hit
    binary: int
    too_large: int
    allowlisted: int
    files: int
    bytes: int


_SECRETS = msgspec.msgpack.Decoder(_LayerSecrets)
_FORMAT = "2"  # 2: the digests of files with a hit (distro files told from users')


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """The secret scanner as part of each layer's analysis (``filetree.SinkSpec``)."""

    config: SecretConfig
    engine: str | None = None  # the prefilter's; findings do not depend on it
    name: str = "secrets"

    def fingerprint(self) -> str:
        # Rules, allow-lists and limits are frozen dataclasses of plain values: their repr
        # names every one.
        # FORMAT: what ``layer_result`` writes (a new field is a new fingerprint).
        return hashlib.sha256(f"{_FORMAT}{self.config!r}".encode()).hexdigest()

    def new(self) -> Scanner:
        return Scanner(self.config, engine=self.engine)

    def result(self, sink: ContentSink) -> bytes:
        assert isinstance(sink, Scanner)
        return sink.layer_result()

    def __reduce__(self) -> tuple[Callable[..., SecretSpec], tuple[object, ...]]:
        # A worker is sent the spec with the prefilter's gated database as this process
        # compiled it (once): loading it takes microseconds, compiling ~25 ms per worker.
        return _unpickled, (self.config, self.engine, self.name,
                            _carried(self.config, self.engine))


Carried = tuple[tuple[bytes, ...], tuple[str, ...], bytes]  # keywords, gates, the database


@functools.lru_cache(maxsize=8)
def _carried(config: SecretConfig, engine: str | None) -> Carried | None:
    """The gated prefilter database of a scanner of ``config``, as bytes; None when the
    engine is not hyperscan or nothing is gated."""
    prefilter = Scanner(config, engine=engine)._prefilter
    if prefilter.engine != "hyperscan" or not prefilter.gates:
        return None
    data = export(prefilter.keywords, prefilter.gates)
    return None if data is None else (prefilter.keywords, prefilter.gates, data)


def _unpickled(config: SecretConfig, engine: str | None, name: str,
               carried: Carried | None) -> SecretSpec:
    if carried is not None:
        load(*carried)  # else (it does not load here) compiled at the first gated scan
    return SecretSpec(config, engine, name)


def _keyword_lines(lowered: bytes, keywords: Iterable[str]) -> list[tuple[int, int]]:
    """The (merged) spans of the lines holding any of ``keywords``: a line-scoped rule's
    expression runs only there, so frequent short keywords cost little."""
    spans: list[tuple[int, int]] = []
    for k in keywords:
        kw = k.encode()
        i = lowered.find(kw)
        while i >= 0:
            start = lowered.rfind(b"\n", 0, i) + 1
            end = lowered.find(b"\n", i + len(kw))
            end = len(lowered) if end < 0 else end
            spans.append((start, end))
            i = lowered.find(kw, end)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _secret_span(rx: re.Pattern[bytes], m: re.Match[bytes]) -> tuple[int, int]:
    if "secret" in rx.groupindex and m.start("secret") >= 0:
        return m.span("secret")
    return m.span()


def _config_texts(image: Image) -> Iterator[tuple[Origin, str, str, Layer | None]]:
    cfg = image.config.get("config")
    cfg = cfg if isinstance(cfg, dict) else {}
    env = cfg.get("Env")
    if isinstance(env, list):
        for item in env:
            text = str(item)
            yield Origin.ENV, f"config:Env/{text.partition('=')[0]}", text, None
    labels = cfg.get("Labels")
    if isinstance(labels, dict):
        for k, v in sorted(labels.items()):
            yield Origin.LABEL, f"config:Labels/{k}", f"{k}={v}", None
    for key in ("Entrypoint", "Cmd"):
        value = cfg.get(key)
        if isinstance(value, list) and value:
            yield Origin.COMMAND, f"config:{key}", " ".join(str(v) for v in value), None
    history = image.history
    layer_of = _history_layers(history, image.layers)
    for i, h in enumerate(history):
        if isinstance(h, dict) and h.get("created_by"):
            yield Origin.HISTORY, f"config:history/{i}", str(h["created_by"]), layer_of.get(i)


def _history_layers(history: Sequence[object], layers: tuple[Layer, ...]) -> dict[int, Layer]:
    """History index → the layer it created (only when the history lines up with layers)."""
    non_empty = [i for i, h in enumerate(history)
                 if isinstance(h, dict) and not h.get("empty_layer")]
    if len(non_empty) != len(layers):
        return {}
    return dict(zip(non_empty, layers, strict=True))


def scan_image(
    image: Image,
    config: SecretConfig | None = None,
    *,
    engine: str | None = None,
    globs: Iterable[str] = (),
    on_layer: Callable[[Layer], None] | None = None,
    store: filetree.IndexStore | None = None,
) -> tuple[SecretReport, FileTree]:
    """Read ``image`` once with a secret scanner analysing each layer (from ``store`` when
    it holds the layer's index); the tree is returned for reuse."""
    scanner = Scanner(config, engine=engine)
    spec = scanner.spec()
    tree = filetree.build(image, globs, sinks=(spec,), on_layer=on_layer, store=store)
    scanner.absorb(tree.results(spec.name))
    return scanner.report(tree, image), tree
