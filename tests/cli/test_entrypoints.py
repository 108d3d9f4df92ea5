"""The console script and `python -m syncer` answer --version and --help."""

from __future__ import annotations

import subprocess
import sys

from syncer import __version__, cli


def test_version_flag_prints_the_package_version(capsys):
    try:
        cli.main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"syncer {__version__}"


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run(
        [sys.executable, "-m", "syncer", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "usage: syncer" in done.stdout


def test_no_command_prints_usage_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: syncer" in capsys.readouterr().err
