"""Run the benchmarks: every bench/bench_*.py, one table, bench/results.json.

    python bench/run.py [--only bake trainer ...] [--project DIR] [--fresh]
    make bench [BENCH_ARGS="--only bake"]

The contract with a bench script `bench/bench_X.py`:
- it runs as `python bench/bench_X.py --json OUT.json [--project DIR]` and writes to
  OUT.json one flat object `{"name": number}` (seconds, ratios, counts);
- by default it runs with the Python of a baked, set-up project (its .venv has the
  package, torch, lightning, mlflow, dvc...), given `--project <that project>`, in that
  project's environment (`bakery.project_env`: .venv activated, CPU PyTorch for uv);
- a script that needs the template's tools instead (cookiecutter) says so with a
  line `BENCH_PYTHON = "template"`; it gets this interpreter and no --project;
- a script that needs packages the project does not depend on lists them in a line
  `BENCH_REQUIRES = ["lightning"]`; they are installed into the bench project's .venv
  (with the same CPU-PyTorch constraint as `make setup`, so torch is never replaced);
- a script that may run longer than TIMEOUT_S says how long in a line `BENCH_TIMEOUT_S = 5400`.
The project is baked with the defaults into bench/.work/ on every run and set up there;
its .venv is kept for later runs (`--fresh` starts from nothing; `--project DIR` uses
yours). Results are merged into
bench/results.json (keys of benches not run this time are kept), and the run exits
non-zero when a bench failed.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "scripts"))
import bakery  # noqa: E402

RESULTS = BENCH / "results.json"
WORK = BENCH / ".work"
TEMPLATE_MARK = re.compile(r'^BENCH_PYTHON\s*=\s*["\']template["\']', re.MULTILINE)
REQUIRES_MARK = re.compile(r"^BENCH_REQUIRES\s*=\s*(\[.*?\])", re.MULTILINE | re.DOTALL)
TIMEOUT_MARK = re.compile(r"^BENCH_TIMEOUT_S\s*=\s*(\d+)", re.MULTILINE)
TIMEOUT_S = 1800


def discover(only: list[str]) -> list[Path]:
    scripts = sorted(BENCH.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        unknown = wanted - {s.stem.removeprefix("bench_") for s in scripts}
        if unknown:
            sys.exit(f"bench: no bench/bench_{{{','.join(sorted(unknown))}}}.py")
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    return scripts


def needs_project(script: Path) -> bool:
    return not TEMPLATE_MARK.search(script.read_text(encoding="utf-8"))


def requirements(script: Path) -> list[str]:
    found = REQUIRES_MARK.search(script.read_text(encoding="utf-8"))
    if found is None:
        return []
    return [str(r) for r in ast.literal_eval(found.group(1))]


def timeout(script: Path) -> int:
    found = TIMEOUT_MARK.search(script.read_text(encoding="utf-8"))
    return int(found.group(1)) if found else TIMEOUT_S


def install(project: bakery.Project, packages: list[str]) -> None:
    """Add what a bench needs to the bench project's .venv (uv, same constraints as setup)."""
    if not packages:
        return
    uv = shutil.which("uv", path=project.env.get("PATH")) or "uv"
    print(f"bench: installing {' '.join(packages)} into the bench project's .venv", flush=True)
    project.run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--compile-bytecode",
        "--python",
        project.python,
        *packages,
        timeout=TIMEOUT_S,
    )


def ready_project(project: Path | None, fresh: bool) -> bakery.Project:
    """A baked project with `make setup` done: --project, else bench/.work/<slug>."""
    if project is not None:
        path = project.resolve()
        if not (path / ".venv" / "bin" / "python").exists():
            sys.exit(f"bench: {path} has no .venv; run `make setup` in it first")
        return bakery.Project(path, bakery.project_env(path))
    path = WORK / bakery.default_slug()
    if fresh and WORK.exists():
        shutil.rmtree(WORK)
    # Baked again every time (a second), so that the numbers are always the template's
    # current code; the .venv is kept (same path, so its editable install still points here).
    kept = WORK / ".venv-kept"
    if (path / ".venv").is_dir():
        shutil.rmtree(kept, ignore_errors=True)
        (path / ".venv").rename(kept)
    shutil.rmtree(path, ignore_errors=True)
    print(f"bench: baking the default project into {path.relative_to(ROOT)}", flush=True)
    path = bakery.bake(WORK)
    if kept.is_dir():
        kept.rename(path / ".venv")
    project = bakery.Project(path, bakery.project_env(path))
    print("bench: make setup in it (first time: a minute or two)", flush=True)
    result = bakery.set_up(project)
    if result.returncode != 0:
        sys.exit(
            f"bench: `make setup` failed in {path}:\n{(result.stdout + result.stderr)[-4000:]}"
        )
    return project


def run_one(script: Path, project: bakery.Project | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "results.json"
        if project is None:
            cmd, env = [sys.executable, str(script), "--json", str(out)], None
        else:
            cmd = [
                str(project.python),
                str(script),
                "--json",
                str(out),
                "--project",
                str(project.path),
            ]
            env = project.env
        result = subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout(script))
        if result.returncode != 0:
            raise RuntimeError(f"exit {result.returncode}")
        if not out.exists():
            raise RuntimeError("wrote no --json file")
        data = json.loads(out.read_text())
    if not isinstance(data, dict):
        raise RuntimeError("the --json file must hold one object")
    bad = [
        k
        for k, v in data.items()
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
    ]
    if bad:
        raise RuntimeError(f"values must be finite numbers: {bad}")
    return data


def table(rows: list[tuple[str, float, str]]) -> str:
    width = max([len("name")] + [len(name) for name, _, _ in rows])
    lines = [f"{'name':<{width}}  {'value':>12}  from", f"{'-' * width}  {'-' * 12}  ----"]
    for name, value, source in rows:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{name:<{width}}  {shown:>12}  {source}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], help="bench names, e.g. bake trainer")
    parser.add_argument("--project", type=Path, help="a baked project with .venv to reuse")
    parser.add_argument("--fresh", action="store_true", help="a new .venv too, not only a new bake")
    args = parser.parse_args()

    scripts = discover(args.only)
    project = None
    if any(needs_project(s) for s in scripts):
        project = ready_project(args.project, args.fresh)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if project is not None:
        install(project, sorted({r for s in scripts if needs_project(s) for r in requirements(s)}))
    rows, failed = [], []
    for script in scripts:
        print(f"\n==> {script.relative_to(ROOT)}", flush=True)
        started = time.perf_counter()
        try:
            data = run_one(script, project if needs_project(script) else None)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
            print(f"bench: {script.name} failed: {exc}", flush=True)
            failed.append(script.name)
            continue
        print(f"    ({time.perf_counter() - started:.0f} s)", flush=True)
        merged.update(data)
        rows += [(name, value, script.name) for name, value in data.items()]
    RESULTS.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")
    print()
    print(table(rows))
    print(f"\nbench: wrote {RESULTS.relative_to(ROOT)}")
    if failed:
        sys.exit(f"bench: failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
