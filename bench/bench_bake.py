"""How long baking takes: `cookiecutter --no-input` with its hooks vs a bare render.

    python bench/bench_bake.py --json out.json [--runs 5]

bake_s          median wall time of the real command line with the defaults, hooks
                included (validation, git init, DVC init + tracking the raw data, commit)
render_s        the same with the hooks skipped (`--accept-hooks no`): rendering alone
bake_vs_render  bake_s / render_s
bake_cpu_s      median CPU time (user + system, all processes) of one bake: steadier than
                wall time when the machine is busy
dvc_import_s    median time to import DVC in a fresh interpreter (the post-generation
                hook pays it; slow when the bytecode is not compiled)
Goal: bake_s <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import bakery  # noqa: E402

BENCH_PYTHON = "template"  # bench/run.py: run me with the template's .venv, not a project's


def timed(cmd: list[str], **kwargs) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kwargs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bake_once(hooks: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-bake-") as out:
        cmd = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", out]
        if not hooks:
            cmd += ["--accept-hooks", "no"]
        cmd.append(str(bakery.ROOT))
        seconds = timed(cmd, env=bakery.bake_env())
        project = Path(out) / bakery.default_slug()
        if hooks:  # make sure the work was really done
            assert (project / ".dvc").is_dir() and (project / ".git").is_dir(), "hook skipped"
        return seconds


def measure(runs: int) -> dict[str, float]:
    bake_once(True)  # warm the file cache; not counted
    bakes = [bake_once(True) for _ in range(runs)]
    renders = [bake_once(False) for _ in range(runs)]
    imports = [timed([sys.executable, "-c", "import dvc.repo"]) for _ in range(runs)]
    bake = statistics.median(wall for wall, _ in bakes)
    render = statistics.median(wall for wall, _ in renders)
    return {
        "bake_s": round(bake, 3),
        "render_s": round(render, 3),
        "bake_vs_render": round(bake / render, 2),
        "bake_cpu_s": round(statistics.median(cpu for _, cpu in bakes), 3),
        "dvc_import_s": round(statistics.median(wall for wall, _ in imports), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--project", type=Path, help="unused: this bench bakes its own")
    args = parser.parse_args()
    results = measure(args.runs)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:16} {value}")


if __name__ == "__main__":
    main()
