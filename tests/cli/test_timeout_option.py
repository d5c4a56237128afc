"""--timeout on every command that touches the network, parsed as a duration, applied by
cli.main to the whole command."""

from __future__ import annotations

import argparse

import pytest

from hullcheck import deadline
from hullcheck.cli.main import build_parser, main

NETWORK = [
    ["sbom"], ["scan"], ["secrets"], ["config"], ["base"], ["sign"], ["verify"], ["attest"],
    ["verify-attestation"], ["policy", "check"], ["db", "update"], ["db", "import"],
]
LOCAL = [["key", "generate"], ["policy", "validate"], ["db", "status"], ["db", "export"],
         ["serve", "admission"]]  # a server's deadline is per review, not the process's


def subparser(words: list[str]) -> argparse.ArgumentParser:
    parser = build_parser(words)
    for word in words:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def options(words: list[str]) -> set[str]:
    return {s for a in subparser(words)._actions for s in a.option_strings}


@pytest.mark.parametrize("words", NETWORK, ids=" ".join)
def test_network_commands_take_a_timeout(words: list[str]) -> None:
    assert "--timeout" in options(words)
    timeout = next(a for a in subparser(words)._actions if "--timeout" in a.option_strings)
    assert timeout.default == deadline.DEFAULT_TIMEOUT == 300


@pytest.mark.parametrize("words", LOCAL, ids=" ".join)
def test_other_commands_do_not(words: list[str]) -> None:
    assert "--timeout" not in options(words)


@pytest.mark.parametrize(("text", "seconds"), [("20s", 20.0), ("5m", 300.0), ("1h30m", 5400.0),
                                               ("90", 90.0)])
def test_durations(text: str, seconds: float) -> None:
    args = build_parser(["sbom"]).parse_args(["sbom", "x", "--timeout", text])
    assert args.timeout == seconds


def test_a_bad_duration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sbom", "x", "--timeout", "5 minutes"])
    assert info.value.code == 2
    assert "argument --timeout: '5 minutes' is not a duration; write e.g. 30s, 5m or 1h" in (
        capsys.readouterr()[1])


def test_the_command_runs_under_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float | None] = []

    def run(args: argparse.Namespace) -> int:
        seen.append(deadline.remaining())
        deadline.check("looking")
        return 0

    import hullcheck.cli.sbom as sbom_cli

    monkeypatch.setattr(sbom_cli, "run", run)
    assert main(["sbom", "x", "--timeout", "40s"]) == 0
    assert seen[0] is not None and 30 < seen[0] <= 40
    assert deadline.remaining() is None  # and only the command
