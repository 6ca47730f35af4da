"""ruff the template's Python files as the generated project will see them.

    python scripts/format_template.py            # report what ruff would change (exit 1 if any)
    python scripts/format_template.py --fix      # apply `ruff check --fix` + `ruff format`

The files under {{cookiecutter.project_slug}}/ hold Jinja (`{{ cookiecutter.package_name }}`),
so ruff cannot read them as they are. Each `{{ ... }}` is swapped for its value with the
default answers (or, where that value is ambiguous, a stand-in just as long), ruff runs on the
result inside a project baked with the defaults (so with the project's own pyproject.toml),
and the expressions are swapped back. Files with `{% ... %}` blocks are left alone and listed.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import bakery

EXPRESSION = re.compile(r"\{\{.*?\}\}")
RUFF = Path(sys.executable).with_name("ruff")


def default_context(project: Path) -> dict:
    package = next(p.name for p in (project / "src").iterdir() if p.is_dir())
    return {**bakery.DEFAULTS, "project_slug": project.name, "package_name": package}


def placeholder(value: str, index: int, text: str) -> str:
    """A stand-in as long as `value`: a string literal for a literal, else a name."""
    for filler in "xyzq":
        if value[:1] in "\"'":
            core = f"J{index}".ljust(max(len(value) - 2, len(f"J{index}")), filler)
            stand_in = f'"{core}"'
        else:
            stand_in = f"J{index}".ljust(max(len(value), len(f"J{index}")), filler)
        if stand_in not in text:
            return stand_in
    raise RuntimeError(f"no free placeholder for {value!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="write the changes")
    args = parser.parse_args()
    from cookiecutter.environment import StrictEnvironment

    sys.path.insert(0, str(bakery.ROOT))  # local_extensions, as cookiecutter itself does
    env = StrictEnvironment(context={"cookiecutter": bakery.ANSWERS}, keep_trailing_newline=True)
    changed, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="format-template-") as tmp:
        project = bakery.bake(Path(tmp), accept_hooks=False)
        context = default_context(project)
        jobs = []
        for source in sorted(bakery.TEMPLATE_DIR.rglob("*.py")):
            text = source.read_text(encoding="utf-8")
            rel = source.relative_to(bakery.TEMPLATE_DIR).as_posix()
            if "{%" in text:
                skipped.append(rel)
                continue
            swaps: dict[str, str] = {}  # stand-in -> the Jinja expression it replaces
            for expression in dict.fromkeys(EXPRESSION.findall(text)):
                value = env.from_string(expression).render(cookiecutter=context)
                # The value itself is the best stand-in (isort sorts it as it will be), when
                # it appears nowhere else in the file and only this expression gives it.
                if value and value not in text and value not in swaps:
                    swaps[value] = expression
                else:
                    swaps[placeholder(value, len(swaps), text)] = expression
            plain = text
            for stand_in, expression in swaps.items():
                plain = plain.replace(expression, stand_in)
            target = project / env.from_string(rel).render(cookiecutter=context)
            target.write_text(plain, encoding="utf-8")
            jobs.append((source, target, text, swaps))
        targets = [str(t.relative_to(project)) for _, t, _, _ in jobs]
        run = {"cwd": project, "capture_output": True, "text": True}
        subprocess.run([RUFF, "check", "--no-cache", "--fix", "--quiet", *targets], **run)
        subprocess.run([RUFF, "format", "--no-cache", "--quiet", *targets], **run)
        for source, target, text, swaps in jobs:
            result = target.read_text(encoding="utf-8")
            for stand_in, expression in swaps.items():
                result = result.replace(stand_in, expression)
            if result != text:
                changed.append(source)
                rel = str(source.relative_to(bakery.ROOT))
                if args.fix:
                    source.write_text(result, encoding="utf-8")
                else:
                    sys.stdout.writelines(
                        difflib.unified_diff(
                            text.splitlines(True), result.splitlines(True), rel, rel
                        )
                    )
        left = subprocess.run(
            [RUFF, "check", "--no-cache", "--output-format", "concise", *targets], **run
        )
    verb = "changed" if args.fix else "would change"
    for source in changed:
        print(f"{verb}: {source.relative_to(bakery.ROOT)}")
    for rel in skipped:
        print(f"skipped (has Jinja blocks, check by hand): {rel}")
    if left.returncode != 0:
        print("ruff check still reports (fix by hand):\n" + left.stdout)
    if left.returncode != 0 or (changed and not args.fix):
        sys.exit(1)


if __name__ == "__main__":
    main()
