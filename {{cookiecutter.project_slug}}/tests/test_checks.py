"""The pre-commit plumbing: the large-file check and the tool launcher the hooks go through."""

import subprocess
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}.checks import large_files, main

ROOT = Path(__file__).resolve().parent.parent
VENV_RUN = ROOT / "scripts" / "venv_run.py"


def test_large_files_are_refused_with_the_dvc_commands(tmp_path):
    big = tmp_path / "data.csv"
    big.write_bytes(b"x" * 2048)
    small = tmp_path / "small.csv"
    small.write_bytes(b"x" * 10)
    [message] = large_files([str(big), str(small)], max_kb=1)
    assert "belong to DVC" in message
    assert f"dvc add {big}" in message and f"git rm --cached {big}" in message
    assert main(["large-files", "--max-kb", "1", str(small)]) == 0
    assert main(["large-files", "--max-kb", "1", str(big)]) == 1


def test_venv_run_starts_a_tool_of_the_project():
    result = subprocess.run(
        [sys.executable, str(VENV_RUN), "python", "-c", "print('hello')"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello"


def test_venv_run_names_the_fix_when_a_tool_is_missing():
    result = subprocess.run(
        [sys.executable, str(VENV_RUN), "no-such-tool-anywhere"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "make setup" in result.stderr
