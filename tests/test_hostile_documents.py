"""Hostile documents: nesting, YAML alias bombs, wrong types and endless files are each one
clear error line of the reading room's class, never a crash.

Every JSON/YAML reader of the sign, sbom, image, vulndb, base and secrets rooms is fed a
document nested 100,000 levels deep (and the YAML ones a "billion laughs"); files given on
the command line are read from FIFOs and ``/dev/zero``; the commands a user runs exit 2
with one line and no traceback.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import re
import tarfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from hullcheck import sbom
from hullcheck.base import catalog as base_catalog
from hullcheck.base import trust
from hullcheck.cli.main import main
from hullcheck.errors import (
    FormatError,
    HullcheckError,
    ImageError,
    InputError,
    VerificationError,
)
from hullcheck.image import oci
from hullcheck.secrets import load_config
from hullcheck.sign import bundle as sigbundle
from hullcheck.sign import dsse, intoto, keys, simplesigning
from hullcheck.sign.store import LayoutStore
from hullcheck.vulndb import alpine, debian, kev, osv
from hullcheck.vulndb.bundle import import_bundle
from hullcheck.vulndb.detect import detect
from hullcheck.vulndb.update import load_sources
from tests.fixtures.images import build, write

# The modules (hullcheck.pipeline re-exports functions of the same names).
scan_pipeline = importlib.import_module("hullcheck.pipeline.scan")
attest_pipeline = importlib.import_module("hullcheck.pipeline.attest")

FIXTURES = Path(__file__).parent / "fixtures"
OSV_RECORD = FIXTURES / "advisories" / "osv" / "go" / "GO-2020-0001.json"
EMPTY_PASSWORD_KEY = FIXTURES / "sign" / "empty-password.key"
NESTED = b"[" * 100_000 + b"]" * 100_000
NESTED_YAML = NESTED.decode()
NESTED_SMALL = b"[" * 20_000 + b"]" * 20_000  # fits a 64 KiB key file, even as base64
DEEP = "nested more than 128 levels deep|not valid YAML: exceeded maximum nesting depth"


def billion_laughs(top: str = "") -> str:
    """Nine aliases of nine aliases...: 9**9 nodes once expanded, a few hundred bytes here."""
    text = top + "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


BOMB = "aliases expand to more than"


def one_line(exc: BaseException, cls: type[HullcheckError], pattern: str) -> None:
    assert isinstance(exc, cls), repr(exc)
    message = str(exc)
    assert "\n" not in message and len(message) < 600, message
    assert re.search(pattern, message), message


def encrypted_key_pem(body: bytes) -> bytes:
    return keys._pem(keys.SIGSTORE_PEM_TYPE, body)


def key_body() -> dict[str, Any]:
    """The JSON inside the cosign test key (empty password)."""
    pem = EMPTY_PASSWORD_KEY.read_bytes()
    doc = json.loads(base64.b64decode(b"".join(pem.strip().splitlines()[1:-1])))
    assert isinstance(doc, dict)
    return doc


# -- nesting, one reader at a time ------------------------------------------------------------


def _sbom(tmp: Path) -> object:
    return sbom.decode(NESTED, name="deep.json")


def _sbom_spdx_annotation(tmp: Path) -> object:
    doc = {"spdxVersion": "SPDX-2.3", "annotations": [
        {"comment": "hullcheck:document " + NESTED.decode()}]}
    return sbom.decode(json.dumps(doc).encode(), name="deep.spdx.json")


def _sbom_cdx_licences(tmp: Path) -> object:
    doc = {"bomFormat": "CycloneDX", "components": [
        {"type": "library", "name": "a", "purl": "pkg:npm/a@1",
         "properties": [{"name": "hullcheck:licenses", "value": NESTED.decode()}]}]}
    return sbom.decode(json.dumps(doc).encode(), name="deep.cdx.json")


def _private_key(tmp: Path) -> object:
    return keys.load_private_key(encrypted_key_pem(NESTED_SMALL), lambda: b"", what="k.key")


def _dsse(tmp: Path) -> object:
    return dsse.Envelope.from_json(NESTED, what="att")


def _bundle(tmp: Path) -> object:
    return sigbundle.decode(NESTED, what="referrer")


def _statement(tmp: Path) -> object:
    return intoto.parse(NESTED, what="att")


def _predicate(tmp: Path) -> object:
    return intoto.load_predicate(NESTED, what="p.json")


def _simplesigning(tmp: Path) -> object:
    return simplesigning.parse(NESTED, what="sig")


def _manifest(tmp: Path) -> object:
    return oci.load_json(NESTED, "manifest sha256:x")


def _layout_index(tmp: Path) -> object:
    (tmp / "index.json").write_bytes(NESTED)
    return LayoutStore(tmp).index()


def _kev(tmp: Path) -> object:
    (tmp / "kev.json").write_bytes(NESTED)
    return list(kev.read(tmp / "kev.json", errors=[]))


def _debian(tmp: Path) -> object:
    (tmp / "tracker.json").write_bytes(NESTED)
    return list(debian.read(tmp / "tracker.json", source="debian", errors=[]))


def _base_catalog(tmp: Path) -> object:
    (tmp / "catalog.json").write_bytes(NESTED)
    return base_catalog.load(tmp / "catalog.json")


def _db_bundle(tmp: Path) -> object:
    bundle = tmp / "vuln.tar"
    with tarfile.open(bundle, "w") as tf:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(NESTED)
        tf.addfile(info, io.BytesIO(NESTED))
    return import_bundle(bundle, tmp / "vuln.db")


def _trust(tmp: Path) -> object:
    return trust.parse(NESTED_YAML, tmp / "trust.yaml")


def _secrets_config(tmp: Path) -> object:
    (tmp / "secrets.yaml").write_bytes(NESTED)
    return load_config(tmp / "secrets.yaml")


def _sources(tmp: Path) -> object:
    (tmp / "sources.yaml").write_bytes(NESTED)
    return load_sources(tmp / "sources.yaml")


READERS: dict[str, tuple[Callable[[Path], object], type[HullcheckError]]] = {
    "sbom": (_sbom, FormatError),
    "sbom-spdx-annotation": (_sbom_spdx_annotation, FormatError),
    "private-key": (_private_key, InputError),
    "dsse-envelope": (_dsse, VerificationError),
    "sigstore-bundle": (_bundle, VerificationError),
    "in-toto-statement": (_statement, VerificationError),
    "predicate": (_predicate, FormatError),
    "simple-signing": (_simplesigning, VerificationError),
    "image-manifest": (_manifest, ImageError),
    "layout-index": (_layout_index, ImageError),
    "kev": (_kev, FormatError),
    "debian-tracker": (_debian, FormatError),
    "base-catalog": (_base_catalog, FormatError),
    "db-bundle-manifest": (_db_bundle, FormatError),
    "trust-file": (_trust, FormatError),
    "secrets-config": (_secrets_config, FormatError),
    "db-sources-file": (_sources, FormatError),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_nested_100k_is_one_line_of_the_rooms_error(reader: str, tmp_path: Path) -> None:
    read, cls = READERS[reader]
    with pytest.raises(HullcheckError) as info:
        read(tmp_path)
    one_line(info.value, cls, DEEP)


def test_nested_licence_list_in_a_cyclonedx_property(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as info:
        _sbom_cdx_licences(tmp_path)
    one_line(info.value, FormatError,
             r"^deep\.cdx\.json: components\[0\]: property 'hullcheck:licenses' is not a JSON list")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_osv_record_nested_is_a_rejected_record(suffix: str, tmp_path: Path) -> None:
    (tmp_path / OSV_RECORD.name).write_bytes(OSV_RECORD.read_bytes())
    (tmp_path / f"DEEP-1{suffix}").write_bytes(NESTED)
    errors: list[FormatError] = []
    got = [a.id for a in osv.read(tmp_path, source="osv", errors=errors)]
    assert got == ["GO-2020-0001"]
    (err,) = errors
    one_line(err, FormatError, rf"DEEP-1\{suffix}(:1)?: ({DEEP})")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_alpine_secdb_nested_is_a_rejected_file(suffix: str, tmp_path: Path) -> None:
    (tmp_path / f"main{suffix}").write_bytes(NESTED)
    errors: list[FormatError] = []
    assert list(alpine.read(tmp_path, source="alpine", errors=errors)) == []
    (err,) = errors
    one_line(err, FormatError, rf"main\{suffix}(:1)?: ({DEEP})")


def test_detect_reads_a_nested_file_without_crashing(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"{" + b'"a":' * 1 + NESTED + b"}")
    assert detect(path) == "debian"  # then the Debian reader says what is wrong with it


# -- YAML alias bombs ----------------------------------------------------------------------


def test_osv_yaml_billion_laughs_refused_before_it_expands(tmp_path: Path) -> None:
    # Only 'database_specific' holds the bomb: nothing would walk it, it is still refused.
    (tmp_path / "BOMB-1.yaml").write_text(billion_laughs("id: BOMB-1\ndatabase_specific:\n  x: 1\n"))
    (tmp_path / OSV_RECORD.name).write_bytes(OSV_RECORD.read_bytes())
    errors: list[FormatError] = []
    assert [a.id for a in osv.read(tmp_path, source="osv", errors=errors)] == ["GO-2020-0001"]
    (err,) = errors
    one_line(err, FormatError, rf"BOMB-1\.yaml: YAML {BOMB} 1,000,000 nodes; refused")


def test_alpine_yaml_billion_laughs_refused(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(billion_laughs("distroversion: v3.15\npackages: []\n"))
    errors: list[FormatError] = []
    assert list(alpine.read(tmp_path, source="alpine", errors=errors)) == []
    (err,) = errors
    one_line(err, FormatError, BOMB)


@pytest.mark.parametrize(
    "read",
    [
        trust.load,
        load_config,
        load_sources,
    ],
    ids=["trust-file", "secrets-config", "db-sources-file"],
)
def test_yaml_files_refuse_billion_laughs(read: Callable[[Path], object], tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    with pytest.raises(FormatError) as info:
        read(path)
    one_line(info.value, FormatError, rf"bomb\.yaml: .*YAML {BOMB}")


# -- wrong types in key files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"N": 32768.0, "r": 8, "p": 1}, r"scrypt parameters must be integers \(N=32768\.0"),
        ({"N": "32768", "r": 8, "p": 1}, r"scrypt parameters must be integers \(N='32768'"),
        ({"N": 32768, "r": 8, "p": True}, r"scrypt parameters must be integers .*p=True"),
        ({"N": [32768], "r": 8, "p": 1}, r"scrypt parameters must be integers \(N=\[32768\]"),
        ({"N": {"a": 1}, "r": 8, "p": 1}, r"scrypt parameters must be integers"),
        ({"N": -32768, "r": 8, "p": 1}, r"unsupported scrypt parameters N=-32768, r=8, p=1"),
        ({"N": 1 << 40, "r": 8, "p": 1}, r"unsupported scrypt parameters N=1099511627776"),
        ({"N": 32768, "r": 1 << 20, "p": 1}, r"unsupported scrypt parameters"),
        ({"r": 8, "p": 1}, r"scrypt parameters must be integers \(N=None"),
        ("fast", r"encrypted key has no scrypt 'params' object"),
    ],
)
def test_wrong_scrypt_parameters_refused_before_scrypt(
    params: object, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, ...]] = []
    real = keys._box_key

    def counted(*args: Any) -> bytes:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(keys, "_box_key", counted)
    doc = key_body()
    doc["kdf"]["params"] = params
    pem = encrypted_key_pem(json.dumps(doc).encode())
    with pytest.raises(InputError) as info:
        keys.load_private_key(pem, lambda: b"", what="k.key")
    one_line(info.value, InputError, rf"^k\.key: {message}")
    assert calls == []  # refused before scrypt ran (it would allocate up to gigabytes)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("kdf",), [1], r"unsupported key derivation \[1\]"),
        (("kdf", "name"), {"x": 1}, r"unsupported key derivation \{'x': 1\}"),
        (("cipher",), "x" * 5000, r"unsupported cipher 'xxxxxxxx"),
        (("cipher", "nonce"), 24, r"encrypted key has no 'nonce'"),
        (("kdf", "salt"), None, r"encrypted key has no 'salt'"),
        (("ciphertext",), ["a"], r"encrypted key has no 'ciphertext'"),
    ],
)
def test_wrong_field_types_in_a_key_file(path: tuple[str, ...], value: object, message: str) -> None:
    doc = key_body()
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(InputError) as info:
        keys.load_private_key(encrypted_key_pem(json.dumps(doc).encode()), lambda: b"", what="k")
    one_line(info.value, InputError, message)


def test_the_real_key_still_loads() -> None:
    key = keys.load_private_key(encrypted_key_pem(json.dumps(key_body()).encode()), lambda: b"")
    assert key.public.fingerprint == keys.read_public_key(
        FIXTURES / "sign" / "empty-password.pub").fingerprint


# -- byte caps that do not trust stat() ------------------------------------------------------


@contextmanager
def fifo_feeding(path: Path, size: int) -> Iterator[Path]:
    """A FIFO at ``path`` that a thread fills with ``size`` bytes of PEM-looking text: stat()
    says 0 bytes, the reader gets ``size``."""
    os.mkfifo(path)
    sent: list[int] = []

    def feed() -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            chunk = b"-----BEGIN PUBLIC KEY-----\n" + b"A" * 65536
            while sum(sent) < size:
                sent.append(os.write(fd, chunk[: size - sum(sent)]))
        except BrokenPipeError:
            pass  # the reader stopped at its cap
        finally:
            os.close(fd)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        if thread.is_alive():  # the reader never opened it: let the writer's open() return
            with suppress(OSError):
                os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        thread.join(timeout=30)
        assert not thread.is_alive()


@pytest.mark.parametrize(
    ("read", "limit", "message"),
    [
        (keys.read_public_key, keys.MAX_KEY_FILE, r"public key file .*: larger than 64 KiB; refused"),
        (lambda p: keys.read_private_key(p, lambda: b""), keys.MAX_KEY_FILE,
         r"key file .*: larger than 64 KiB; refused"),
        (trust.load, trust.MAX_TRUST_FILE, r"trust file .*: larger than 1 MiB; refused"),
        (load_config, 1 << 20, r"secret config .*: larger than 1 MiB; refused"),
        (load_sources, 1 << 20, r"source list .*: larger than 1 MiB; refused"),
    ],
    ids=["public-key", "private-key", "trust-file", "secrets-config", "db-sources-file"],
)
def test_a_fifo_is_cut_at_the_cap(
    read: Callable[[Path], object], limit: int, message: str, tmp_path: Path
) -> None:
    with fifo_feeding(tmp_path / "fifo", limit + 100_000) as fifo, \
            pytest.raises(HullcheckError) as info:
        read(fifo)
    one_line(info.value, HullcheckError, message)


def test_an_sbom_fifo_is_cut_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_pipeline, "MAX_SBOM", 1 << 20)  # 512 MiB is a lot of memory here
    with fifo_feeding(tmp_path / "sbom.json", (1 << 20) + 5) as fifo, \
            pytest.raises(FormatError) as info:
        scan_pipeline._decode_sbom(fifo)
    one_line(info.value, FormatError, r"SBOM .*sbom\.json: larger than 1 MiB; refused")


def test_dev_zero_as_a_key_is_refused_at_the_cap() -> None:
    with pytest.raises(InputError) as info:
        keys.read_public_key(Path("/dev/zero"))
    one_line(info.value, InputError, r"^public key file /dev/zero: larger than 64 KiB; refused$")


def test_limits_are_the_documented_ones() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "security.md").read_text()
    assert keys.MAX_KEY_FILE == 64 << 10 and "64 KiB" in doc
    assert trust.MAX_TRUST_FILE == 1 << 20
    assert scan_pipeline.MAX_SBOM == 512 << 20 and "512 MiB" in doc
    assert attest_pipeline.MAX_PREDICATE == 32 << 20 and "32 MiB" in doc


# -- through the commands a user runs ---------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("hullcheck: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hullcheck.vulndb import Source, SourceKind
    from hullcheck.vulndb import build as build_db

    db = tmp_path_factory.mktemp("db") / "vuln.db"
    build_db(db, [Source(name="go", kind=SourceKind.OSV,
                         locations=(str(FIXTURES / "advisories" / "osv" / "go"),))])
    return db


def test_cli_scan_of_a_nested_sbom(
    tmp_path: Path, fixture_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "deep.json"
    doc.write_bytes(b'{"bomFormat": "CycloneDX", "components": ' + NESTED + b"}")
    code, out, err = run(capsys, "scan", str(doc), "--db", str(fixture_db))
    assert (code, out) == (2, "")
    assert re.search(r"deep\.json: .*nested more than 128 levels deep$", error_line(err))


@pytest.fixture
def image(tmp_path: Path) -> str:
    return write(build({"etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n"}), tmp_path / "img")


def test_cli_sign_with_a_nested_key_file(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    key = tmp_path / "nested.key"
    key.write_bytes(encrypted_key_pem(NESTED_SMALL))
    code, out, err = run(capsys, "sign", image, "--key", str(key))
    assert (code, out) == (2, "")
    assert re.search(r"nested\.key: corrupted encrypted key: nested more than 128", error_line(err))


def test_cli_sign_with_a_wrong_typed_key_file(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    doc = key_body()
    doc["kdf"]["params"]["N"] = 32768.0
    key = tmp_path / "float.key"
    key.write_bytes(encrypted_key_pem(json.dumps(doc).encode()))
    code, out, err = run(capsys, "sign", image, "--key", str(key))
    assert (code, out) == (2, "")
    assert "scrypt parameters must be integers (N=32768.0, r=8, p=1)" in error_line(err)
    assert not list((Path(image.removeprefix("oci:")) / "blobs").rglob("*.sig"))


def test_cli_verify_with_a_private_key_file_nested_json_and_dev_zero(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = tmp_path / "nested.pub"
    nested.write_bytes(NESTED_SMALL)
    code, _, err = run(capsys, "verify", image, "--key", str(nested))
    assert code == 2 and "nested.pub: not a PEM file" in error_line(err)
    code, _, err = run(capsys, "verify", image, "--key", str(EMPTY_PASSWORD_KEY))
    assert code == 2 and "this is a private key" in error_line(err)
    code, _, err = run(capsys, "verify", image, "--key", "/dev/zero")
    assert code == 2
    assert error_line(err).endswith("public key file /dev/zero: larger than 64 KiB; refused")


def test_cli_attest_predicate_over_the_cap(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    monkeypatch.setattr(attest_pipeline, "MAX_PREDICATE", 1 << 20)
    predicate = tmp_path / "big.json"
    predicate.write_bytes(b'{"a": "' + b"x" * (1 << 20) + b'"}')
    code, _, err = run(capsys, "attest", image, "--key", str(EMPTY_PASSWORD_KEY),
                       "--predicate", str(predicate), "--type", "custom")
    assert code == 2
    assert error_line(err).endswith(f"--predicate {predicate}: larger than 1 MiB; refused")
    predicate.write_bytes(NESTED)
    code, _, err = run(capsys, "attest", image, "--key", str(EMPTY_PASSWORD_KEY),
                       "--predicate", str(predicate), "--type", "custom")
    assert code == 2 and "big.json: predicate: nested more than 128" in error_line(err)


def test_cli_base_with_a_billion_laughs_trust_file(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "trust.yaml"
    bomb.write_text(billion_laughs())
    code, out, err = run(capsys, "base", image, "--catalog", str(tmp_path / "none.json"),
                         "--trust", str(bomb))
    assert (code, out) == (2, "")
    assert re.search(rf"trust\.yaml: trust file: YAML {BOMB} 1,000,000 nodes; refused",
                     error_line(err))


def test_cli_secrets_with_a_billion_laughs_config(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "secrets.yaml"
    bomb.write_text(billion_laughs())
    code, out, err = run(capsys, "secrets", image, "--config", str(bomb))
    assert (code, out) == (2, "")
    assert BOMB in error_line(err)


def test_cli_db_import_of_an_osv_yaml_bomb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "vuln.db"
    bomb = tmp_path / "osv" / "BOMB-1.yaml"
    bomb.parent.mkdir()
    bomb.write_text(billion_laughs("id: BOMB-1\ndatabase_specific:\n  x: 1\n"))
    code, out, err = run(capsys, "db", "import", str(bomb), "--db", str(db))
    assert (code, out) == (2, "")
    assert re.search(rf"no usable records .*BOMB-1\.yaml: YAML {BOMB}", error_line(err))
    assert not db.exists()
    # In a directory, the bomb is one rejected record and the others are imported.
    (bomb.parent / OSV_RECORD.name).write_bytes(OSV_RECORD.read_bytes())
    code, _, err = run(capsys, "db", "import", str(bomb.parent), "--db", str(db))
    assert code == 0 and "Traceback" not in err
    assert "1 record, 1 rejected" in err
    code, out, _ = run(capsys, "db", "status", "--db", str(db), "-o", "json")
    assert code == 0 and json.loads(out)["advisories"] == 1
