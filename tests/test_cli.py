"""The console script runs as an installed command."""

import subprocess
import sys


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "crowdpose3d.cli", *args], capture_output=True, text=True
    )


def test_models_lists_presets():
    result = run("models")
    assert result.returncode == 0
    for preset in ("darknet53", "small", "tiny"):
        assert preset in result.stdout


def test_no_command_prints_help_and_fails():
    result = run()
    assert result.returncode == 2
    assert "usage: crowdpose3d" in result.stdout


def test_unknown_command_is_one_line_error():
    result = run("fly")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr
