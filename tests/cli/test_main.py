"""The command table: every listed command is registered by the module it names, and
running one imports only that module's command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from hullcheck.cli.main import COMMANDS, build_parser, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_parses_its_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    assert f"usage: hullcheck {name}" in capsys.readouterr()[0]


def test_every_module_registers_the_names_listed_for_it() -> None:
    parser = build_parser()  # no command named: every module registers
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)


def test_sbom_does_not_import_the_other_commands() -> None:
    code = ("import sys; from hullcheck.cli.main import build_parser; build_parser(['sbom']); "
            "print(' '.join(m for m in sys.modules if m.startswith('hullcheck.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert "hullcheck.cli.sbom" in out
    assert not {"hullcheck.cli.policy", "hullcheck.cli.serve", "hullcheck.cli.sign"} & set(out)


def test_sbom_of_a_plain_image_leaves_the_heavy_optional_libraries_unloaded(
    tmp_path: Path,
) -> None:
    """An SBOM of an image without pnpm locks, Python metadata or requirements files, written
    as JSON, needs no YAML parser, e-mail parser, requirement grammar or terminal renderer."""
    code = (
        "import sys\n"
        "from hullcheck.cli.main import main\n"
        "from pathlib import Path\n"
        "from hullcheck.image.writer import ImageBuilder, write_oci_archive\n"
        f"p = Path({str(tmp_path)!r}) / 'i.tar'\n"
        "img = ImageBuilder().add_layer({'etc/os-release': b'ID=debian\\n'}).build()\n"
        "write_oci_archive(p, img)\n"
        "out = str(p) + '.json'\n"
        "assert main(['sbom', 'oci-archive:' + str(p), '-o', 'json', '--file', out, '-q']) == 0\n"
        "assert open(out).read().startswith('{')\n"
        "print(' '.join(sys.modules))\n"
    )
    out = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split())
    assert "hullcheck.catalog.python_locks" in out  # the catalogers did load...
    assert not {"yaml", "email.parser", "packaging.requirements", "rich"} & out  # ...not these


def test_internal_error_is_one_line_with_its_own_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import hullcheck.cli.key as key_cli

    def boom(args: argparse.Namespace) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(key_cli, "run_generate", boom)
    code = main(["key", "generate", "--output-prefix", str(tmp_path / "k")])
    err = capsys.readouterr().err
    assert code == 3
    assert err.splitlines()[0] == "hullcheck: internal error: KeyError: 'a bug'"
    assert "--debug" in err and "Traceback" not in err
    code = main(["key", "generate", "--output-prefix", str(tmp_path / "k"), "--debug"])
    err = capsys.readouterr().err
    assert code == 3
    assert "Traceback (most recent call last)" in err and "boom" in err


def test_error_messages_escape_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    from hullcheck.errors import RegistryError

    message = str(RegistryError("registry said \x1b[2J\x1b]8;;http://evil\x07click\x9b"))
    assert "\x1b" not in message and "\x07" not in message and "\x9b" not in message
    assert "\\x1b[2J" in message
