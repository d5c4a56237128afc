"""Mutated real documents: whatever a field holds, a reader raises a HullcheckError or reads it.

Each reader gets a real document (a golden SBOM, an OSV record, Alpine and Debian feeds, the
KEV catalog, a cosign key file, a DSSE envelope and its statement, a Sigstore bundle, a
simple-signing payload, a trust file, a secrets config, a base catalog, an image manifest and
config, a ``.sig`` manifest) with a few fields replaced by values of other types, removed, or
added where they do not belong. A ``TypeError``, ``KeyError``, ``AttributeError`` or
``ValueError`` escaping would be an internal error (exit 3) for input a user can give.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullcheck import sbom, untrusted
from hullcheck.base import catalog as base_catalog
from hullcheck.base import trust
from hullcheck.base.model import CatalogEntry
from hullcheck.errors import HullcheckError
from hullcheck.image import open_image
from hullcheck.model import Distro
from hullcheck.secrets import Scanner, parse_config
from hullcheck.sign import bundle as sigbundle
from hullcheck.sign import cosign, dsse, intoto, keys, simplesigning
from hullcheck.sign.store import attached_tag, open_target
from hullcheck.vulndb import alpine, debian, kev, osv
from tests.fixtures.images import build, write

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden" / "sbom"
ADVISORIES = FIXTURES / "advisories"
SIGN = FIXTURES / "sign"
DIGEST = "sha256:" + "ab" * 32

# Modest counts keep the suite fast; HULLCHECK_FUZZ_EXAMPLES=5000 searches harder.
EXAMPLES = int(os.environ.get("HULLCHECK_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values of every JSON type, and the ones that hurt: floats equal to integers, huge and
# negative numbers, empty containers, NaN (Python's json reads and writes it).
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(), st.text(max_size=12), st.sampled_from(["", [], {}, 32768.0, -1, 0, "0"]),
    st.lists(st.one_of(st.integers(), st.text(max_size=6), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=6)), max_size=3),
)


def _locations(doc: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) of every value below ``doc``, iteratively."""
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            yield node, key
            if isinstance(value, dict | list):
                stack.append(value)


def _keys(doc: Any) -> list[str]:
    return sorted({k for parent, k in _locations(doc) if isinstance(parent, dict)})


@st.composite
def mutated(draw: st.DrawFn, seed: Any) -> Any:
    """``seed`` (a decoded JSON/YAML document) with one to four fields changed."""
    doc = copy.deepcopy(seed)
    names = _keys(seed) or ["x"]
    for _ in range(draw(st.integers(1, 4))):
        places = list(_locations(doc))
        if not places:
            break
        parent, key = places[draw(st.integers(0, len(places) - 1))]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"]))
        # Copies: sampled values are shared between examples, and later steps change them.
        if op == "replace":
            parent[key] = copy.deepcopy(draw(HOSTILE))
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(names))] = copy.deepcopy(draw(HOSTILE))
        else:
            parent[key] = [parent[key]]
    return doc


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def only_hullcheck_errors(read: Callable[[], object]) -> None:
    """Run ``read``; a HullcheckError is an answer (one line), anything else a bug."""
    try:
        read()
    except HullcheckError as exc:
        assert "\n" not in str(exc)


def load(path: Path) -> Any:
    text = path.read_text()
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)


# -- SBOMs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["small.cdx.json", "small.spdx.json", "small.hullcheck.json"])
def test_sbom_readers(name: str) -> None:
    seed = load(GOLDEN / name)

    @FUZZ
    @given(mutated(seed))
    def check(doc: Any) -> None:
        only_hullcheck_errors(lambda: sbom.decode(dumps(doc), name=name))

    check()


# -- advisories --------------------------------------------------------------------------------


@pytest.mark.parametrize("record", ["go/GO-2020-0001.json", "pypa/PYSEC-2019-133.json"])
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_osv_records(record: str, suffix: str) -> None:
    seed = load(ADVISORIES / "osv" / record)

    @FUZZ
    @given(mutated(seed))
    def check(doc: Any) -> None:
        data = dumps(doc) if suffix == ".json" else yaml.safe_dump(doc).encode()

        def read() -> None:
            with contextlib.suppress(osv.Skip):  # not a record: skipped, as an import does
                osv.parse_record(osv.load_document(data, "r" + suffix), source="t", origin="r")

        only_hullcheck_errors(read)

    check()


def _feed_reader(name: str, read: Callable[[Path], object]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            only_hullcheck_errors(lambda: read(path))

    return run


FEEDS: dict[str, tuple[Path, Callable[[bytes], None]]] = {
    "alpine-yaml": (ADVISORIES / "distro" / "alpine-secdb-v3.15-main-sample.yaml", _feed_reader(
        "main.yaml", lambda p: list(alpine.read(p, source="a", errors=[])))),
    "alpine-json": (ADVISORIES / "distro" / "alpine" / "v3.4" / "community.json", _feed_reader(
        "main.json", lambda p: list(alpine.read(p, source="a", errors=[])))),
    "debian": (ADVISORIES / "distro" / "debian-tracker-json-sample.json", _feed_reader(
        "tracker.json", lambda p: list(debian.read(p, source="d", errors=[])))),
    "kev": (ADVISORIES / "kev" / "known_exploited_vulnerabilities-subset.json", _feed_reader(
        "kev.json", lambda p: list(kev.read(p, errors=[])))),
}


@pytest.mark.parametrize("feed", sorted(FEEDS))
def test_distro_feeds_and_kev(feed: str) -> None:
    path, read = FEEDS[feed]
    seed = load(path)

    @FUZZ
    @given(mutated(seed))
    def check(doc: Any) -> None:
        read(yaml.safe_dump(doc).encode() if path.suffix == ".yaml" else dumps(doc))

    check()


# -- signatures and keys ----------------------------------------------------------------------


def _pem_json(path: Path) -> Any:
    pem = path.read_bytes()
    return json.loads(base64.b64decode(b"".join(pem.strip().splitlines()[1:-1])))


def test_cosign_key_files() -> None:
    seed = _pem_json(SIGN / "empty-password.key")

    @settings(FUZZ, max_examples=max(EXAMPLES * 3 // 4, 1))  # a well-formed one costs a scrypt
    @given(mutated(seed))
    def check(doc: Any) -> None:
        pem = keys._pem(keys.SIGSTORE_PEM_TYPE, dumps(doc))
        only_hullcheck_errors(lambda: keys.load_private_key(pem, lambda: b"", what="k.key"))

    check()


def _statement_seed() -> Any:
    envelope = json.loads((SIGN / "cosign-vuln-attestation.dsse.json").read_bytes())
    return json.loads(base64.b64decode(envelope["payload"]))


SIGNED: dict[str, tuple[Callable[[], Any], Callable[[bytes], object]]] = {
    "dsse-envelope": (lambda: load(SIGN / "cosign-vuln-attestation.dsse.json"),
                      lambda b: dsse.Envelope.from_json(b, what="att")),
    "in-toto-statement": (_statement_seed, lambda b: intoto.parse(b, what="att")),
    "sigstore-bundle": (lambda: json.loads((SIGN / "cosign3-attestation.sigstore.json").read_bytes()),
                        lambda b: sigbundle.decode(b, what="referrer")),
    "simple-signing": (lambda: json.loads(simplesigning.payload("r/x", DIGEST, {"a": "b"})),
                       lambda b: simplesigning.parse(b, what="sig")),
}


@pytest.mark.parametrize("kind", sorted(SIGNED))
def test_signed_documents(kind: str) -> None:
    make_seed, read = SIGNED[kind]
    seed = make_seed()

    @FUZZ
    @given(mutated(seed))
    def check(doc: Any) -> None:
        only_hullcheck_errors(lambda: read(dumps(doc)))

    check()


@pytest.fixture(scope="module")
def signed_layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, keys.SigningKey]:
    """An OCI layout holding an image and its cosign signature (``.sig`` tag)."""
    root = tmp_path_factory.mktemp("signed")
    ref = write(build({"etc/os-release": "ID=alpine\n"}), root)
    key = keys.generate()
    cosign.sign_image(open_target(ref), key)
    return root / "oci", key


def test_signature_manifests(signed_layout: tuple[Path, keys.SigningKey]) -> None:
    layout, key = signed_layout
    target = open_target(f"oci:{layout}:latest")
    tag = attached_tag(target.digest, "sig")
    found = target.store.manifest_by_tag(tag)
    assert found is not None
    seed = json.loads(found.data)
    cosign.verify_image(target, key.public)  # the real one verifies

    @FUZZ
    @given(mutated(seed))
    def check(doc: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            copy_ = Path(tmp) / "oci"
            shutil.copytree(layout, copy_)
            t = open_target(f"oci:{copy_}:latest")
            t.store.put_manifest(tag, dumps(doc), "application/vnd.oci.image.manifest.v1+json")
            only_hullcheck_errors(lambda: cosign.verify_image(t, key.public))

    check()


def test_signature_layout_indexes(signed_layout: tuple[Path, keys.SigningKey]) -> None:
    layout, key = signed_layout
    seed = json.loads((layout / "index.json").read_bytes())

    @FUZZ
    @given(mutated(seed))
    def check(doc: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            copy_ = Path(tmp) / "oci"
            shutil.copytree(layout, copy_)
            (copy_ / "index.json").write_bytes(dumps(doc))
            only_hullcheck_errors(
                lambda: cosign.verify_image(open_target(f"oci:{copy_}:latest"), key.public))

    check()


# -- image manifests and configs ---------------------------------------------------------------


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image")
    write(build({"etc/os-release": "ID=alpine\n"}, {"app/a": "x"}), root)
    return root / "oci"


def _put_blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _open_with(root: Path, manifest: Any, config: Any | None) -> None:
    """Store ``config`` (when given) and ``manifest`` in the layout at ``root``, point its
    index at them, and open the image."""
    manifest = copy.deepcopy(manifest)
    if config is not None and isinstance(manifest, dict) and isinstance(manifest.get("config"), dict):
        manifest["config"].update(_put_blob(root, dumps(config)))
    index = json.loads((root / "index.json").read_bytes())
    index["manifests"][0].update(_put_blob(root, dumps(manifest)))
    (root / "index.json").write_bytes(dumps(index))
    open_image(f"oci:{root}:latest")


@pytest.mark.parametrize("part", ["manifest", "config"])
def test_image_manifest_and_config(part: str, layout: Path) -> None:
    index = json.loads((layout / "index.json").read_bytes())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    open_image(f"oci:{layout}:latest")  # the real one opens

    @FUZZ
    @given(mutated(manifest if part == "manifest" else config))
    def check(doc: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "oci"
            shutil.copytree(layout, root)
            if part == "manifest":
                only_hullcheck_errors(lambda: _open_with(root, doc, None))
            else:
                only_hullcheck_errors(lambda: _open_with(root, copy.deepcopy(manifest), doc))

    check()


# -- trust file, secrets config, base catalog ---------------------------------------------------

TRUST_SEED = {"sources": [
    {"name": "docker.io/library/debian", "digests": [DIGEST], "keys": ["keys/debian.pub"]},
    {"name": "registry.example.com/base/**"},
]}

SECRETS_SEED = {
    "rules": [{"id": "acme-api-token", "title": "ACME API token", "severity": "high",
               "regex": "acme_(?P<secret>[0-9a-f]{32})", "keywords": ["acme_"], "entropy": 3.0,
               "paths": "\\.env$"}],
    "allow": {"paths": ["^/usr/share/doc/"], "regexes": ["EXAMPLE"], "rules": ["jwt"]},
    "max-file-size": 10485760,
}


def test_trust_files() -> None:
    trust.parse(yaml.safe_dump(TRUST_SEED), Path("trust.yaml"))  # the seed is a valid file

    @FUZZ
    @given(mutated(TRUST_SEED))
    def check(doc: Any) -> None:
        only_hullcheck_errors(lambda: trust.parse(yaml.safe_dump(doc), Path("trust.yaml")))

    check()


def test_secrets_configs() -> None:
    Scanner(parse_config(SECRETS_SEED))  # the seed is a valid config

    @FUZZ
    @given(mutated(SECRETS_SEED))
    def check(doc: Any) -> None:
        text = yaml.safe_dump(doc)
        only_hullcheck_errors(
            lambda: Scanner(parse_config(untrusted.yaml_document(text, what="s.yaml"), name="s")))

    check()


def test_secrets_config_regexes_compile_as_the_scanner_joins_them() -> None:
    # Each allow-list regex compiles alone; joined as (?:a)|(?:b) a global flag is an error.
    for doc in ({"allow": {"regexes": ["(?i)example"]}}, {"allow": {"paths": ["(?i)^/doc"]}},
                {"rules": [{"id": "x", "regex": "a", "paths": "(?L)x"}]},
                {"rules": [{"id": "x", "regex": "a", "keywords": [""]}]}):
        with pytest.raises(HullcheckError):
            Scanner(parse_config(doc))


def test_base_catalogs(tmp_path: Path) -> None:
    entry = CatalogEntry(name="docker.io/library/debian", tag="12", digest=DIGEST,
                         manifest_digest=DIGEST, platform="linux/amd64",
                         created="2024-01-01T00:00:00Z",
                         distro=Distro(id="debian", version_id="12", id_like=("x",)),
                         diff_ids=(DIGEST,), added="2024-01-02T00:00:00Z")
    base_catalog.save(tmp_path / "c.json", [entry])
    seed = json.loads((tmp_path / "c.json").read_bytes())
    assert base_catalog.load(tmp_path / "c.json") == (entry,)

    @FUZZ
    @given(mutated(seed))
    def check(doc: Any) -> None:
        _feed_reader("c.json", base_catalog.load)(dumps(doc))

    check()
