"""OSV importer: real PyPI, Go, RustSec and malicious-package records; archives; hostile input."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from hullcheck.errors import FormatError
from hullcheck.vulndb import Advisory, EventKind, Kind, RangeType, Rating, osv
from tests.vulndb.conftest import FIXTURES

OSV = FIXTURES / "osv"


def read_all(path: Path) -> tuple[dict[str, Advisory], list[FormatError]]:
    errors: list[FormatError] = []
    got = {a.id: a for a in osv.read(path, source="test", errors=errors)}
    return got, errors


def test_pypi_requests_record() -> None:
    got, errors = read_all(OSV / "pypa")
    assert errors == []
    adv = got["PYSEC-2018-28"]
    assert "CVE-2018-18074" in adv.aliases
    (aff,) = adv.affected
    assert (aff.ecosystem, aff.package, aff.purl) == ("PyPI", "requests", "pkg:pypi/requests")
    git, eco = aff.ranges
    assert git.type is RangeType.GIT and git.repo == "https://github.com/requests/requests"
    assert eco.type is RangeType.ECOSYSTEM
    assert [(e.kind, e.value) for e in eco.events] == [
        (EventKind.INTRODUCED, "0"), (EventKind.FIXED, "2.20.0"),
    ]
    assert aff.fixed_versions == ("2.20.0",)  # the GIT commit is not a version
    assert "2.19.1" in aff.versions and not aff.all_versions
    assert adv.severity.rating is Rating.UNKNOWN  # the record carries no CVSS vector


def test_pypi_urllib3_and_severities() -> None:
    got, _ = read_all(OSV / "pypa")
    assert "CVE-2019-11324" in got["PYSEC-2019-133"].aliases
    assert got["PYSEC-2019-133"].affected[0].package == "urllib3"
    v3 = got["PYSEC-2024-154"].severity
    assert (v3.rating, v3.score, v3.source) == (Rating.HIGH, 8.6, "CVSS_V3")
    v4 = got["PYSEC-2025-186"].severity
    assert (v4.rating, v4.score, v4.source) == (Rating.LOW, 1.9, "CVSS_V4")


def test_withdrawn_records_keep_their_date() -> None:
    got, _ = read_all(OSV)
    assert got["PYSEC-2006-10"].withdrawn == "2026-07-09T15:54:00Z"
    assert got["GO-2022-0617"].is_withdrawn
    assert got["RUSTSEC-2019-0031"].is_withdrawn
    assert got["MAL-2024-1398"].is_withdrawn
    assert not got["GO-2020-0001"].is_withdrawn


def test_go_and_rustsec() -> None:
    got, _ = read_all(OSV)
    go = got["GO-2020-0001"].affected[0]
    assert (go.ecosystem, go.package) == ("Go", "github.com/gin-gonic/gin")
    assert go.fixed_versions == ("1.6.0",)
    rs = got["RUSTSEC-2016-0001"]
    assert rs.affected[0].ecosystem == "crates.io"
    assert (rs.severity.rating, rs.severity.score) == (Rating.HIGH, 8.1)


def test_malicious_records() -> None:
    got, _ = read_all(OSV / "malicious")
    listed = got["MAL-2023-1"]
    assert listed.kind is Kind.MALICIOUS
    assert listed.affected[0].versions == ("77.77.79",) and not listed.affected[0].all_versions
    whole = got["MAL-2023-1547"].affected[0]
    assert whole.package == "algo-svnlook" and whole.all_versions


def test_malicious_record_without_any_version_data_is_whole_package(tmp_path: Path) -> None:
    # No record in the snapshot lacks both fields, so take real MAL-2023-1 and drop its versions.
    doc = json.loads((OSV / "malicious" / "npm" / "MAL-2023-1.json").read_text())
    del doc["affected"][0]["versions"]
    (tmp_path / "MAL-2023-1.json").write_text(json.dumps(doc))
    got, errors = read_all(tmp_path)
    assert errors == []
    aff = got["MAL-2023-1"].affected[0]
    assert aff.all_versions and aff.ranges == () and aff.versions == ()


def test_vulnerability_without_version_data_is_not_all_versions(tmp_path: Path) -> None:
    doc = json.loads((OSV / "go" / "GO-2020-0001.json").read_text())
    del doc["affected"][0]["ranges"]
    (tmp_path / "GO-2020-0001.json").write_text(json.dumps(doc))
    got, _ = read_all(tmp_path)
    aff = got["GO-2020-0001"].affected[0]
    assert not aff.all_versions and not aff.has_version_data


def test_yaml_record_keeps_versions_as_strings(tmp_path: Path) -> None:
    doc = json.loads((OSV / "pypa" / "PYSEC-2018-28.json").read_text())
    (tmp_path / "PYSEC-2018-28.yaml").write_text(yaml.safe_dump(doc))
    got, errors = read_all(tmp_path)
    assert errors == []
    assert got["PYSEC-2018-28"].affected[0].fixed_versions == ("2.20.0",)
    assert "2.10.0" in got["PYSEC-2018-28"].affected[0].versions


def _zip_of(src: Path, dest: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.rglob("*.json")):
            zf.write(f, f.name)  # OSV's all.zip is flat: <id>.json
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return dest


def test_zip_and_tarball_give_the_same_records(tmp_path: Path) -> None:
    tree, _ = read_all(OSV)
    zipped, zerr = read_all(_zip_of(OSV, tmp_path / "all.zip"))
    tgz = tmp_path / "all.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(OSV, arcname="osv")
    tarred, terr = read_all(tgz)
    assert zerr == terr == []
    assert set(zipped) == set(tarred) == set(tree)
    assert len(tree) == 12
    assert zipped["PYSEC-2018-28"] == tree["PYSEC-2018-28"]


def test_non_record_files_are_skipped(tmp_path: Path) -> None:
    shutil.copy(OSV / "go" / "GO-2020-0001.json", tmp_path)
    (tmp_path / "README.md").write_text("# not a record")
    (tmp_path / "all.json").write_text('[{"id": "GO-2020-0001", "modified": "x"}]')  # an index
    (tmp_path / "db.json").write_text('{"modified": "2024-01-01T00:00:00Z"}')
    got, errors = read_all(tmp_path)
    assert list(got) == ["GO-2020-0001"] and errors == []


# ----------------------------------------------------------------- hostile records


def test_non_json_file_is_reported_by_name(tmp_path: Path) -> None:
    shutil.copy(OSV / "go" / "GO-2020-0001.json", tmp_path)
    (tmp_path / "GO-2099-0001.json").write_bytes(b"\x00\xffnot json{")
    got, errors = read_all(tmp_path)
    assert list(got) == ["GO-2020-0001"]
    (err,) = errors
    assert "GO-2099-0001.json: not valid JSON (not UTF-8 text)" in str(err)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: a["ranges"][0].__setitem__("events", "0:1.6.0"),
         "affected[0].ranges[0].events must be a non-empty list"),
        (lambda a: a["ranges"][0].__setitem__("type", "CALVER"),
         "affected[0].ranges[0].type 'CALVER' is not ECOSYSTEM, SEMVER or GIT"),
        (lambda a: a["ranges"][0].__setitem__("events", [{"fixed": "1.6.0"}]),
         "affected[0].ranges[0] has no 'introduced' event"),
        (lambda a: a["ranges"][0]["events"].append({"fixed": 160}),
         "affected[0].ranges[0].events[2] has an unknown event or a non-string value"),
        (lambda a: a.__setitem__("versions", "1.0"),
         "affected[0].versions must be a list of strings"),
    ],
)
def test_invalid_range_rejects_the_record_naming_file_and_id(
    tmp_path: Path, mutate: object, message: str
) -> None:
    doc = json.loads((OSV / "go" / "GO-2020-0001.json").read_text())
    mutate(doc["affected"][0])  # type: ignore[operator]
    (tmp_path / "GO-2020-0001.json").write_text(json.dumps(doc))
    shutil.copy(OSV / "rustsec" / "RUSTSEC-2016-0001.json", tmp_path)
    got, errors = read_all(tmp_path)
    assert list(got) == ["RUSTSEC-2016-0001"]
    (err,) = errors
    assert str(err) == f"{tmp_path}:GO-2020-0001.json: GO-2020-0001: {message}"


def test_huge_junk_file_is_rejected_without_reading_it(tmp_path: Path) -> None:
    shutil.copy(OSV / "go" / "GO-2020-0001.json", tmp_path)
    with (tmp_path / "huge.json").open("wb") as fh:
        chunk = b"{" * (1 << 20)
        for _ in range(50):
            fh.write(chunk)
    got, errors = read_all(tmp_path)
    assert list(got) == ["GO-2020-0001"]
    assert [str(e) for e in errors] == [
        f"{tmp_path}:huge.json: too large (52428800 bytes; limit 16777216)"
    ]


def test_zip_with_parent_member_names_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "evil.json"
    (tmp_path / "sub").mkdir()
    bad = _zip_of(OSV / "go", tmp_path / "sub" / "all.zip", {"../evil.json": b"{}"})
    with pytest.raises(FormatError, match=r"hostile archive: member '\.\./evil\.json' escapes"):
        read_all(bad)
    assert not outside.exists()


def test_tar_with_absolute_member_is_refused(tmp_path: Path) -> None:
    tgz = tmp_path / "all.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        data = b"{}"
        info = tarfile.TarInfo("/etc/evil.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(FormatError, match="escapes the archive root"):
        read_all(tgz)


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "all.zip"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("GO-2099-0002.json", "w") as fh,
    ):
        zeros = b"0" * (1 << 20)
        for _ in range(200):
            fh.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(FormatError, match=r"hostile archive: member 'GO-2099-0002\.json' inflates"):
        read_all(bomb)


def test_truncated_tarball_is_a_format_error(tmp_path: Path) -> None:
    tgz = tmp_path / "all.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(OSV, arcname="osv")
    data = tgz.read_bytes()
    tgz.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="corrupt or truncated tar archive"):
        read_all(tgz)
