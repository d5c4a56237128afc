"""The scanner's cheaper paths find what the plain ones find: a layer worker loads the gated
prefilter its parent compiled (it compiles none), line numbers are counted in one pass
through a file and the rules' claims settled by bisection (a file of many matches costs
one pass, not one per match), the cheaper gates of the AWS rules, and a secret wherever
the decompressed chunks of a layer split it."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hullcheck import secrets
from hullcheck.filetree import analysis
from hullcheck.filetree.tar import read_tar
from hullcheck.image import open_image
from hullcheck.secrets import RULES, Scanner, SecretConfig, engine, parse_config
from hullcheck.secrets.scanner import SecretSpec, _first_claims, _Found
from tests.fixtures.images import build, write
from tests.fixtures.tars import tar_of
from tests.secrets import fakes
from tests.secrets.test_gates import _counting

KEY_ID = fakes.aws_key_id(11)
SECRET = fakes.aws_secret(11)
TOKEN = "ghp_" + fakes.rand(fakes.ALNUM, 36, 11)


# -- the gated database, compiled once by the parent --------------------------------------
def _compiles(monkeypatch: pytest.MonkeyPatch, log: Path) -> None:
    """Each compile of a gated database in a process other than this one (a forked worker)
    is written to ``log``; every database cache is emptied first."""
    parent = os.getpid()
    real = engine._compiled
    real.cache_clear()
    monkeypatch.setattr(engine, "_LOADED", {})

    def compiled(keywords: tuple[bytes, ...], gates: tuple[str, ...]) -> object:
        if gates and os.getpid() != parent:
            with log.open("a") as f:
                f.write(f"{os.getpid()}\n")
        return real(keywords, gates)

    monkeypatch.setattr(engine, "_compiled", compiled)


def test_a_worker_loads_the_gated_database_its_parent_compiled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers read in worker processes (forked before any gated scan here): each is sent
    the parent's database with the scanner's spec and compiles none; same findings."""
    log = tmp_path / "compiled"
    log.touch()
    ref = write(build({"app/.env": f"AWS_ACCESS_KEY_ID={KEY_ID}\n"},
                      {"srv/config.txt": f"token: {TOKEN}\n"},
                      {"etc/motd": "hello\n"}), tmp_path / "image")
    monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setenv(analysis.ENV_WORKERS, "2")
    _compiles(monkeypatch, log)
    report, _ = secrets.scan_image(open_image(ref))
    assert sorted((f.path, f.rule_id) for f in report.findings if f.layer is not None) == [
        ("/app/.env", "aws-access-key-id"), ("/srv/config.txt", "github-pat")]
    assert log.read_text() == ""  # no worker compiled one


def test_an_unpickled_spec_scans_with_the_database_it_carried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = pickle.dumps(SecretSpec(SecretConfig()))
    log = tmp_path / "compiled"
    log.touch()
    _compiles(monkeypatch, log)
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as if in another process
    scanner = pickle.loads(data).new()
    assert scanner._prefilter.gating
    hits = scanner.scan_bytes(f"aws_secret_access_key = {SECRET}\n".encode(), "/x", gated=True)
    assert [h.rule.id for h in hits] == ["aws-secret-access-key"]
    assert log.read_text() == ""


def test_a_database_that_does_not_load_here_is_compiled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes hyperscan does not take (another version or platform): compiled instead."""
    keywords, gates = (b"ghp_",), ("ghp_[0-9A-Za-z]{36}",)
    monkeypatch.setattr(engine, "_LOADED", {})
    assert engine.load(keywords, gates, b"not a database") is False
    assert engine._LOADED == {}
    data = engine.export(keywords, gates)
    assert data is not None and engine.load(keywords, gates, data) is True
    assert set(engine._LOADED) == {(keywords, gates)}
    spec = SecretSpec(SecretConfig(), engine="python")  # nothing to carry: not hyperscan
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_a_spec_of_user_rules_travels_with_its_database() -> None:
    """A user's rule (never gated) beside the built-in ones: the spec pickles with the
    database of its keywords and gates, and the scanner made of it finds both."""
    cfg = parse_config({"rules": [{"id": "acme", "regex": r"acme_(?P<secret>[0-9a-f]{32})",
                                   "keywords": ["acme_"]}], "allow": {"rules": ["jwt"]}})
    data = pickle.dumps(SecretSpec(cfg))
    scanner = pickle.loads(data).new()
    text = f"k = acme_{'0123456789abcdef' * 2}\nid = {KEY_ID}\n".encode()
    assert [h.rule.id for h in scanner.scan_bytes(text, "/x", gated=True)] == [
        "acme", "aws-access-key-id"]


# -- line numbers and claims -------------------------------------------------------------
class _Counted(bytes):
    """Bytes that add up how many bytes ``count`` went through."""

    counted = 0

    def count(self, sub: bytes, start: int = 0, end: int | None = None,  # type: ignore[override]
              ) -> int:
        stop = len(self) if end is None else end
        _Counted.counted += stop - start
        return super().count(sub, start, stop)


def test_the_lines_of_many_matches_are_counted_in_one_pass() -> None:
    """2,000 tokens on as many lines: each found on its line, the file's newlines counted
    once (not once from the start for each match: quadratic in a hostile file)."""
    tokens = ["ghp_" + fakes.rand(fakes.ALNUM, 36, i) for i in range(2000)]
    data = _Counted(b"".join(b"t%d = %s\n" % (i, t.encode()) for i, t in enumerate(tokens)))
    _Counted.counted = 0
    hits = Scanner().scan_bytes(data, "/app/tokens", gated=True)
    assert [(h.rule.id, h.line) for h in hits] == [("github-pat", i + 1) for i in range(2000)]
    assert _Counted.counted <= len(data)


_SPANS = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 60), st.integers(1, 12)),
                  max_size=40)


@given(spans=_SPANS)
def test_claims_settle_as_comparing_with_every_kept_span(
        spans: list[tuple[int, int, int]]) -> None:
    """In rule order, a span overlapping one kept before it is dropped: the bisection keeps
    what comparing with every kept span keeps."""
    found = [_Found(rule, start, start + n, start, "") for rule, start, n in sorted(spans)]
    kept: list[_Found] = []
    for f in found:
        if not any(f.start < k.end and k.start < f.end for k in kept):
            kept.append(f)
    assert _first_claims(found) == kept


@given(text=st.lists(st.sampled_from(["x", "\n", "password", TOKEN]), max_size=60))
def test_lines_are_those_counted_from_the_start(text: list[str]) -> None:
    data = "".join(text).encode()
    scanner = Scanner()
    hits = scanner.scan_bytes(data, "/app/x", gated=True)
    assert [h.line for h in hits] == [data.count(b"\n", 0, h.start) + 1 for h in hits]
    assert [h.start for h in hits] == sorted(h.start for h in hits)


# -- the AWS rules' cheaper gates ---------------------------------------------------------
BY_ID = {r.id: r for r in RULES}


@pytest.mark.parametrize(("text", "rule_id", "run"), [
    (b"Asia and ANVA: in any text\n", "aws-access-key-id", False),  # keywords, no gate
    (b"ASIAWORDSTWO then a space\n", "aws-access-key-id", False),  # 8 of 16: no gate
    (b"ASIAWORDS2THATSTOP short\n", "aws-access-key-id", True),  # 14: the gate, no match
    (b"aws_secret_key = short\n", "aws-secret-access-key", False),
    (b"aws_secret_key = " + b"abcdefghABCDEFGH" * 2 + b"\n", "aws-secret-access-key", True),
])
def test_an_aws_rule_runs_only_where_its_cheaper_gate_occurs(
        text: bytes, rule_id: str, run: bool) -> None:
    """A file the gate lets the rule skip, and one it must not (the rule then runs, and
    finds nothing: 16 characters of the 40, half of the 16)."""
    scanner = Scanner(engine="hyperscan")
    counted = _counting(scanner)
    assert scanner.scan_bytes(text, "/app/x", gated=True) == []
    assert (rule_id in counted) is run


@pytest.mark.parametrize(("text", "rule_id"), [
    (f"id={KEY_ID}\n", "aws-access-key-id"),
    (f"x {KEY_ID}", "aws-access-key-id"),  # at the buffer's end
    (f"AWS_SECRET_ACCESS_KEY='{SECRET}'\n", "aws-secret-access-key"),
    (f'"awsSecretAccessKey": "{SECRET}"', "aws-secret-access-key"),
])
def test_a_secret_the_aws_gates_must_let_through(text: str, rule_id: str) -> None:
    hits = Scanner(engine="hyperscan").scan_bytes(text.encode(), "/app/x", gated=True)
    assert [h.rule.id for h in hits] == [rule_id]
    assert BY_ID[rule_id].gate != BY_ID[rule_id].regex  # a part of it, cheaper to compile


# -- a secret split across the layer's chunks ---------------------------------------------

def _found(chunks: Iterator[bytes], make: Callable[[], Scanner] = Scanner,
           ) -> list[tuple[str, str, int]]:
    scanner = make()
    read_tar(chunks, index=0, what="layer", wanted=None, sink=scanner)
    return [(fh.path, fh.hit.rule.id, fh.hit.line) for fh in scanner._hits]


@pytest.mark.parametrize("filler", [b"", b"# a comment line\n" * 600],
                         ids=["in the head", "past the head"])
@pytest.mark.parametrize("cut", [-1, 1, 2, 3, 4, 5, 20, 39, 40, 41])
def test_a_secret_split_across_two_chunks_is_found(filler: bytes, cut: int) -> None:
    """The layer's decompressed chunks end ``cut`` bytes into the token: in its keyword
    ("ghp_"), in the rest, just before and after it; in a file shorter than the sniffed
    head and one longer."""
    raw = tar_of({"app/a.txt": b"nothing here\n", "app/.env": filler + f"{TOKEN}\n".encode()})
    at = raw.index(TOKEN.encode()) + cut
    expected = [("/app/.env", "github-pat", filler.count(b"\n") + 1)]
    assert _found(iter([raw])) == expected
    assert _found(iter([raw[:at], raw[at:]])) == expected
