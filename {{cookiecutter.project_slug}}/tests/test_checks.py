"""The pre-commit plumbing: the tool launcher the hooks go through."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_RUN = ROOT / "scripts" / "venv_run.py"


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
