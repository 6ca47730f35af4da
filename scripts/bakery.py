"""Bake the template and run the baked project: the one helper tests, bench and demo share.

    python scripts/bakery.py demo      # what `make demo` runs
    python scripts/bakery.py env       # print the environment a baked project's commands get

Everything about *how* a baked project is set up on this kind of machine lives here:
- which PyTorch build `make setup` installs (`torch_env`): the project installs from its
  uv.lock, and TORCH_BACKEND replaces the lock's PyPI torch (CUDA on Linux) by a CPU build of
  the same version: from a folder in PIP_FIND_LINKS that holds a CPU wheel (uv does not read
  pip's config), offline, else from PyTorch's CPU index. A multi-GB CUDA build is never
  downloaded by the template's own tests or demo.
- a private cookiecutter config (no ~/.cookiecutterrc defaults, no replay files in ~);
- the uv of the template's .venv on PATH, so `make setup` does not install its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = ROOT / "{{cookiecutter.project_slug}}"
RAW_DATA = "data/raw/penguins-raw.csv"  # bundled with the project, tracked by DVC
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")  # `dvc metrics show` names
STATE = ROOT / ".cache" / "bakery"  # git-ignored: cookiecutter config, uv link
ANSWERS = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
# The answers --no-input gives (a choice's default is its first option; derived ones unrendered).
DEFAULTS = {k: v[0] if isinstance(v, list) else v for k, v in ANSWERS.items() if k[0] != "_"}
# Answers that change the shape of the project; the others are free text.
CHOICES = {
    "python_version": ["3.10", "3.11", "3.12", "3.13"],
    "license": ANSWERS["license"],
    "github_actions": ANSWERS["github_actions"],
}
# Env vars that would point a baked project at the caller's environment instead of its own.
LEAKY_ENV = (
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONHOME",
    "PYTHONPATH",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "UV_PROJECT_ENVIRONMENT",
    "EXTRAS",  # read by the project's make setup
    "PYTHON_VERSION",
    "PYTEST_ADDOPTS",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
    "PYTEST_CURRENT_TEST",
)


def default_slug() -> str:
    from slugify import slugify  # cookiecutter's own dependency, the same function it uses

    return slugify(ANSWERS["project_name"])


# ---------------------------------------------------------------- environment


def write_once(path: Path, text: str) -> None:
    """Write `text` unless the file holds it already; atomic, as parallel workers share it."""
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def find_links_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Local folders named in PIP_FIND_LINKS (space separated; URLs other than file: skipped)."""
    dirs = []
    for item in environ.get("PIP_FIND_LINKS", "").split():
        item = item.removeprefix("file://")
        if "://" not in item and Path(item).is_dir():
            dirs.append(Path(item))
    return dirs


def local_cpu_torch(environ: Mapping[str, str]) -> tuple[Path, str] | None:
    """(folder, version) of the newest local `torch-*+cpu-*.whl`, if there is one."""
    found = []
    for folder in find_links_dirs(environ):
        for wheel in folder.glob("torch-*+cpu-*.whl"):
            version = wheel.name.split("-")[1]
            found.append(
                (
                    tuple(int(p) for p in version.split("+")[0].split(".") if p.isdigit()),
                    folder,
                    version,
                )
            )
    if not found:
        return None
    _, folder, version = max(found)
    return folder, version


def torch_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """TORCH_BACKEND for `make setup`: never PyPI's CUDA build (a value already set wins).

    The project installs everything else from its uv.lock; TORCH_BACKEND swaps in another
    build of the locked torch version: a local folder holding a CPU wheel of it (installed
    offline), else PyTorch's CPU index.
    """
    environ = os.environ if environ is None else environ
    if environ.get("TORCH_BACKEND"):
        return {}
    local = local_cpu_torch(environ)
    return {"TORCH_BACKEND": str(local[0]) if local else "cpu"}


def uv_dir() -> Path | None:
    """A folder holding only a link to uv (the template's .venv has one), or None.

    Putting the whole .venv/bin on PATH would let the template's python, dvc and
    pytest shadow the project's own; a folder with just uv does not.
    """
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        found = shutil.which("uv")
        if found is None:
            return None
        uv = Path(found)
    link_dir = STATE / "uv-bin"
    link = link_dir / "uv"
    if not link.exists() or link.resolve() != uv.resolve():
        link_dir.mkdir(parents=True, exist_ok=True)
        temporary = link_dir / f".uv-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(uv.resolve())
        os.replace(temporary, link)  # atomic: parallel test workers may get here together
    return link_dir


def cookiecutter_config() -> Path:
    """A cookiecutter config that ignores ~/.cookiecutterrc and keeps replays out of ~."""
    STATE.mkdir(parents=True, exist_ok=True)
    config = STATE / "cookiecutter-config.yaml"
    write_once(
        config,
        f"cookiecutters_dir: {json.dumps(str(STATE / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(STATE / 'replay'))}\n",
    )
    return config


def bake_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for running the cookiecutter CLI the way the tests do."""
    env = dict(os.environ if base is None else base)
    env["COOKIECUTTER_CONFIG"] = str(cookiecutter_config())
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def project_env(
    project: Path | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for a baked project's commands: CPU torch, uv, and its .venv activated."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in LEAKY_ENV}
    env.update(torch_env(env))
    env["DVC_NO_ANALYTICS"] = "1"
    env["COOKIECUTTER_CONFIG"] = str(cookiecutter_config())
    path = env.get("PATH", os.defpath).split(os.pathsep)
    if (uv := uv_dir()) is not None:
        path.insert(0, str(uv))
    if project is not None:
        venv = Path(project) / ".venv"
        path.insert(0, str(venv / "bin"))
        env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join(dict.fromkeys(path))
    return env


# ---------------------------------------------------------------- baking


def bake(
    output_dir: Path,
    extra_context: Mapping[str, str] | None = None,
    *,
    accept_hooks: bool = True,
    template: Path = ROOT,
) -> Path:
    """Bake in-process with --no-input (extra_context values are Jinja-rendered by cookiecutter)."""
    from cookiecutter.main import cookiecutter

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    path = cookiecutter(
        str(template),
        no_input=True,
        extra_context=dict(extra_context or {}),
        output_dir=str(output_dir),
        accept_hooks=accept_hooks,
        config_file=str(cookiecutter_config()),
    )
    return Path(path)


def cookiecutter_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    python: str | Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run the real `cookiecutter` command line (stdin fed from `input`, or closed)."""
    cmd = [str(python or sys.executable), "-m", "cookiecutter", *args]
    return subprocess.run(
        cmd,
        cwd=cwd,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        env=bake_env(env),
        timeout=timeout,
    )


@dataclass
class Project:
    """A baked project and the environment its commands run with."""

    path: Path
    env: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def bin(self) -> Path:
        return self.path / ".venv" / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def run(
        self,
        *cmd: str | Path,
        check: bool = True,
        timeout: float = 900,
        capture: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run a command in the project folder with its .venv first on PATH.

        On failure (check=True) raises AssertionError holding the command's output tail,
        which is what a failing test should show.
        """
        args = [str(c) for c in cmd]
        started = time.perf_counter()
        result = subprocess.run(
            args,
            cwd=cwd or self.path,
            env={**self.env, **(env or {})},
            capture_output=capture,
            text=True,
            timeout=timeout,
            input=input if input is not None else "",
        )
        self.log.append(
            f"{time.perf_counter() - started:7.1f}s  {' '.join(args)}  -> {result.returncode}"
        )
        if check and result.returncode != 0:
            out = ((result.stdout or "") + (result.stderr or ""))[-6000:]
            raise AssertionError(
                f"`{' '.join(args)}` failed (exit {result.returncode}) "
                f"in {cwd or self.path}:\n{out}"
            )
        return result

    def venv(self, tool: str, *args: str | Path, **kwargs) -> subprocess.CompletedProcess:
        """Run a tool installed in the project's .venv: project.venv('dvc', 'status')."""
        return self.run(self.bin / tool, *args, **kwargs)

    def make(self, target: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("make", target, *args, **kwargs)


def bake_project(output_dir: Path, extra_context: Mapping[str, str] | None = None) -> Project:
    path = bake(output_dir, extra_context)
    return Project(path, project_env(path))


def set_up(
    project: Project, *, capture: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess:
    """The project's own `make setup`, with this machine's PyTorch settings (not checked)."""
    return project.make("setup", capture=capture, timeout=timeout, check=False)


# ---------------------------------------------------------------- demo


def _step(project: Project, title: str, *cmd: str | Path) -> None:
    print(f"\n==> {title}: {' '.join(str(c) for c in cmd)}", flush=True)
    started = time.perf_counter()
    try:
        project.run(*cmd, capture=False, timeout=3600)
    except AssertionError:
        sys.exit(
            f"\ndemo: `{' '.join(str(c) for c in cmd)}` failed in {project.path} "
            "(its output is above). Fix it, then run `make demo` again."
        )
    print(f"    ({time.perf_counter() - started:.0f} s)", flush=True)


def demo(out: Path = ROOT / "demo") -> None:
    """Bake the defaults into demo/, set up, run the pipeline, sweep every model, compare."""
    started = time.perf_counter()
    path = out / default_slug()
    if path.exists():
        print(f"==> reusing {path.relative_to(ROOT)} (`make clean` starts over)")
    else:
        print(f"==> baking the default answers into {out.relative_to(ROOT)}/")
        path = bake(out)
    project = Project(path, project_env(path))
    rel = path.relative_to(ROOT)
    _step(project, "setting up (.venv, git, DVC, pre-commit)", "make", "setup")
    if not (path / "dvc.yaml").exists():
        print(
            f"\ndemo: {rel} is set up, but this version of the template has no pipeline "
            "yet (no dvc.yaml), so there is nothing to run or compare. "
            f"Look around: cd {rel} && make help"
        )
        return
    # The sweep runs each model's whole pipeline (prepare ... evaluate) in its own folder and
    # ranks the runs: the comparison the demo is for, without `make repro` first.
    _step(project, "every model of conf/model/ side by side, ranked", "make", "sweep")
    print(f"\ndemo: done in {time.perf_counter() - started:.0f} s. Next, in {rel}:")
    print("  make ui      # the runs in the MLflow UI: open the address it prints")
    print("  make repro   # the pipeline with DVC: the default model, outputs versioned")
    print("  make help    # every command")


def metrics_of(node: object) -> dict | None:
    """The mapping that holds every contract metric directly (the test split's), if any."""
    if not isinstance(node, dict):
        return None
    if all(isinstance(node.get(m), int | float) for m in METRICS):
        return node
    for value in node.values():
        if (found := metrics_of(value)) is not None:
            return found
    return None


def main(argv: Sequence[str]) -> None:
    command = argv[0] if argv else "demo"
    if command == "demo":
        demo()
    elif command == "env":
        env = project_env()
        for key in sorted(set(env) - set(os.environ)) + ["PATH"]:
            print(f"{key}={env[key]}")
    else:
        sys.exit(f"usage: python scripts/bakery.py [demo|env] (got {command!r})")


if __name__ == "__main__":
    main(sys.argv[1:])
