"""Regenerate the template's params.yaml from its conf/ (run after editing conf/).

Bakes the default answers into a scratch folder, composes conf/ there with the
project's own `config sync`, and writes the result back into the template with
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
        project = Path(
            cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch, accept_hooks=False)
        )
        package = next(p.name for p in (project / "src").iterdir() if p.is_dir())
        subprocess.run(
            [sys.executable, "-m", f"{package}.config", "sync"],
            cwd=project,
            check=True,
            capture_output=True,
            env={"PYTHONPATH": str(project / "src")},
        )
        composed = (project / "params.yaml").read_text()
    # Answer-dependent lines take the same Jinja as conf/config.yaml, so free text stays escaped.
    # params.yaml is conf/ resolved and read as plain YAML: `${` is text there, so the
    # OmegaConf escaping of conf/ (hydra_quoted) becomes the plain `quoted`.
    jinja_lines = {
        line.strip().split(":")[0]: line.replace("|hydra_quoted", "|quoted")
        for line in CONFIG.read_text().splitlines()
        if "cookiecutter." in line
    }
    lines = [
        jinja_lines.get(line.strip().split(":")[0], line) if line.startswith("  ") else line
        for line in composed.splitlines()
    ]
    TARGET.write_text("\n".join(lines) + "\n")
    print(f"wrote {TARGET.relative_to(TEMPLATE)}")


if __name__ == "__main__":
    main()
