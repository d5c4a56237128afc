"""Every option of every command says what it does, and `key generate` says what it prints."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck.cli.main import COMMANDS, build_parser, main


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action


def test_every_option_of_every_parser_has_help_text() -> None:
    parser = build_parser()  # every command's module registers its parser
    walked = list(_walk(parser, "hullcheck"))
    commands = {path.split()[1] for path, _ in walked if len(path.split()) > 1}
    assert commands == set(COMMANDS)
    assert len(walked) > 150
    silent = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in walked
              if a.help is None or not str(a.help).strip()]
    assert silent == []


def test_key_generate_labels_the_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret")
    assert main(["key", "generate", "--output-prefix", str(tmp_path / "k")]) == 0
    out, err = capsys.readouterr()
    label, fingerprint = out.strip().split(": ")
    assert label == "Public key fingerprint"
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 71
    assert f"Public key written to {tmp_path / 'k.pub'}" in err
