"""Regenerate the template's params.yaml from its conf/ (run after editing conf/).

Bakes the default answers into a scratch folder, composes conf/ there with the
project's own `config show`, and writes the result back into the template with
the answer-dependent values turned back into Jinja. A template test fails when
this was forgotten.
Usage: .venv/bin/python scripts/sync_template_params.py   (needs hydra-core)
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
TARGET = TEMPLATE / "{{cookiecutter.project_slug}}" / "params.yaml"
CONFIG = TEMPLATE / "{{cookiecutter.project_slug}}" / "conf" / "config.yaml"


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch,
                                    accept_hooks=False))
        package = next(p.name for p in (project / "src").iterdir() if p.is_dir())
        composed = subprocess.run(
            [sys.executable, "-m", f"{package}.config", "show"], cwd=project, check=True,
            capture_output=True, text=True, env={"PYTHONPATH": str(project / "src")}).stdout
    # Answer-dependent lines take the same Jinja as conf/config.yaml, so free text stays escaped.
    jinja_lines = {line.strip().split(":")[0]: line for line in CONFIG.read_text().splitlines()
                   if "cookiecutter." in line}
    lines = [jinja_lines.get(line.strip().split(":")[0], line) if line.startswith("  ") else line
             for line in composed.splitlines()]
    header = ("# Written from conf/ by `make params` (or by `dvc exp run -S ...`). "
              "Edit conf/, not this.\n")
    TARGET.write_text(header + "\n".join(lines) + "\n")
    print(f"wrote {TARGET.relative_to(TEMPLATE)}")


if __name__ == "__main__":
    main()
