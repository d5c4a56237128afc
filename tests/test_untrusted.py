"""untrusted: the one reader of JSON, YAML and files other people control."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hullcheck import untrusted
from hullcheck.errors import FormatError, RegistryError


def billion_laughs(levels: int = 9) -> str:
    text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    prev = "a"
    for name in "bcdefghij"[: levels - 1]:
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


def test_json_nested_too_deep_is_one_line_error():
    for depth in (200, 100_000):
        with pytest.raises(FormatError, match="nested more than 128 levels"):
            untrusted.json_document("[" * depth + "]" * depth, what="manifest x")


def test_json_at_the_limit_is_read():
    doc = untrusted.json_document("[" * 128 + "]" * 128, what="x")
    assert isinstance(doc, list)


def test_json_error_class_is_the_callers():
    with pytest.raises(RegistryError, match=r"^manifest m: not valid JSON"):
        untrusted.json_document(b"{", what="manifest m", error=RegistryError)
    with pytest.raises(FormatError, match="expected a JSON object, got a list"):
        untrusted.json_object(b"[1]", what="key")
    with pytest.raises(FormatError, match="not UTF-8"):
        untrusted.json_document(b'"\xff"', what="key")


def test_yaml_billion_laughs_refused_before_it_expands():
    with pytest.raises(FormatError, match="aliases expand to more than"):
        untrusted.yaml_document(billion_laughs(), what="ignore file")
    with pytest.raises(FormatError, match="aliases expand to more than"):
        untrusted.yaml_document(billion_laughs(), what="osv", strings_only=True)


def test_yaml_small_aliases_are_fine():
    doc = untrusted.yaml_document("a: &x {b: 1}\nc: *x\n", what="t")
    assert doc == {"a": {"b": 1}, "c": {"b": 1}}


def test_yaml_recursive_alias_refused():
    with pytest.raises(FormatError, match="refers to the node that contains it"):
        untrusted.yaml_document("a: &x [1, *x]\n", what="t")


def test_yaml_deep_nesting_is_one_line_error():
    with pytest.raises(FormatError, match=r"^t:1: not valid YAML"):
        untrusted.yaml_document("[" * 5000 + "]" * 5000, what="t")
    with pytest.raises(FormatError, match="nested more than 128"):
        untrusted.yaml_document("[" * 300 + "]" * 300, what="t")


def test_yaml_strings_only_keeps_text_and_python_tags_refused():
    assert untrusted.yaml_document("v: 1.10\n", what="t", strings_only=True) == {"v": "1.10"}
    with pytest.raises(FormatError, match="constructor"):
        untrusted.yaml_document("a: !!python/object:os.system x\n", what="t")


def test_yaml_node_keeps_line_marks():
    node = untrusted.yaml_node("a: 1\nb: [2]\n", what="t")
    assert node is not None
    assert node.value[1][0].start_mark.line == 1


def test_read_file_does_not_trust_stat(tmp_path: Path):
    with pytest.raises(FormatError, match="/dev/zero: larger than 1 MiB"):
        untrusted.read_file("/dev/zero", what="policy", limit=1 << 20)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        try:
            with fifo.open("wb") as f:
                while True:
                    f.write(b"x" * 65536)
        except BrokenPipeError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    with pytest.raises(FormatError, match="larger than 64 KiB"):
        untrusted.read_file(fifo, what="key", limit=64 << 10)
    t.join(5)


def test_read_file_errors(tmp_path: Path):
    with pytest.raises(FormatError, match="no such file"):
        untrusted.read_file(tmp_path / "nope", what="policy", limit=10)
    with pytest.raises(FormatError, match="is a directory"):
        untrusted.read_file(tmp_path, what="policy", limit=10)
    (tmp_path / "ok").write_bytes(b"12345")
    assert untrusted.read_file(tmp_path / "ok", what="p", limit=5) == b"12345"
    with pytest.raises(FormatError, match="larger than 4 bytes"):
        untrusted.read_file(tmp_path / "ok", what="p", limit=4)


def test_digest_parse_refuses_trailing_newline_and_non_strings():
    from hullcheck.digest import parse_digest
    from hullcheck.errors import ImageError

    good = "sha256:" + "a" * 64
    assert parse_digest(good) == ("sha256", "a" * 64)
    for bad in (good + "\n", good + "/../../etc/passwd", None, 7, ["x"]):
        with pytest.raises(ImageError):
            parse_digest(bad)  # type: ignore[arg-type]


def test_read_file_refuses_nul_in_the_name():
    with pytest.raises(FormatError, match="cannot hold a NUL byte"):
        untrusted.read_file("key\x00.pub", what="key", limit=10)
