"""Every command in the generated README is exercised, so the README cannot rot.

Three fast checks (a bake without set-up) and one slow scenario, run in README order where
the state allows (about 10 minutes on 2 cores, most of it `make setup` and pipeline runs).

The README's fenced `bash` blocks are parsed into commands. Each test below names the
commands it exercises (`@exercises(...)`); `test_every_readme_command_is_exercised` fails
when a command is in the README but no test claims it, or a test claims one the README no
longer has. How each command is exercised:

- RUN (most): executed as written, through bash, in a sandbox: a git clone of the baked,
  set-up and reproduced project (the shared `reproduced_project` fixture), so the shared
  project is never changed. The clone borrows the baked project's .venv (a symlink, with
  PYTHONPATH pointing at the clone's own src/, since the package is installed editable) and a
  copy of its DVC cache. A few placeholders are replaced before running, and only those,
  each listed in `SUBSTITUTE`: the DVC remote becomes a local folder, `<repository url>` the
  sandbox, a run id / experiment name a real one, and the servers' ports free ports (the
  PostgreSQL + S3 of the team MLflow server become SQLite + a local folder: the server starts
  and answers /health).
- DRY: `make ui` (a server that runs until Ctrl-C) is checked with `make -n`: port 5000
  (tests/test_slow_own_data.py starts it for real).
- CHECKED, not run: `ssh -L ...` (needs a remote host; the port it forwards must be the
  one `make ui` serves); `rm -rf .venv && TORCH_BACKEND=... make setup` (would delete the
  shared environment, and cu126 downloads GBs of CUDA libraries): bootstrap.py must hand
  TORCH_BACKEND to uv's --torch-backend.
- COVERED elsewhere: the "Get template updates" commands (`cruft check`, `cruft update -y`,
  `git status`, `git diff HEAD`, `cruft link <template url>`) run in
  tests/test_cruft_update.py on a project made by cruft from a git copy of the template;
  this module imports them from there (`README_COMMANDS`), so both stay in step.
- `make lint` runs on the fresh clone and must change nothing (what a failing hook rewrote is
  restored afterwards, so one failure does not cascade into the later tests).

The "Without make (Windows)" table is checked against `make -n` for every target in
`make help`; every `make X` the README mentions must exist.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import test_cruft_update

import bakery

SLUG = bakery.default_slug()
PACKAGE = SLUG.replace("-", "_")
TORCHRUN = (
    f"torchrun --nproc-per-node=2 --master-addr=127.0.0.1 --master-port=29500 -m {PACKAGE}.train"
)
TEAM_SERVER = (
    "mlflow server --backend-store-uri postgresql+psycopg://mlflow:PASSWORD@db-host:5432/mlflow "
    "--artifacts-destination s3://team-bucket/mlflow --host 127.0.0.1 --port 5000"
)
SERVE = (
    f'mlflow models serve -m "models:/{PACKAGE}-penguins_island@champion" --host 127.0.0.1 '
    "--port 5001 --env-manager local"
)
CURL = (
    'curl -s http://127.0.0.1:5001/invocations -H "Content-Type: application/json" -d '
    '\'{"dataframe_records": [{"culmen_length_mm": 39.1, "culmen_depth_mm": 18.7, '
    '"flipper_length_mm": 181.0, "body_mass_g": 3750.0, "delta_15n": 8.9, "delta_13c": -24.7, '
    '"island": "Torgersen", "species": "Adelie", "sex": "MALE", "clutch_completion": "Yes"}]}\''
)
# Placeholders replaced before a command runs (README text -> how the test fills it in).
SUBSTITUTE = {
    "/path/to/my_data.csv": "a CSV the test writes (penguins rows, one column renamed)",
    "my_target": "that CSV's target column (Kind)",
    "/path/or/s3://bucket/path": "a local folder: the DVC remote",
    "<repository url>": "the sandbox (a git repository)",
    "<run id>": "the id of a finished MLflow run of the sandbox",
    "<experiment name>": "an experiment of `dvc exp show`",
    "postgresql+psycopg://mlflow:PASSWORD@db-host:5432/mlflow": "sqlite:///<tmp>/team.db",
    "s3://team-bucket/mlflow": "a local artifacts folder",
    "--port 5000": "a free port (team server)",
    "--port 5001 / 127.0.0.1:5001": "a free port (model server)",
    "--master-port=29500": "a free port (torchrun's rendezvous on 127.0.0.1)",
}
EXERCISED: dict[str, list[str]] = {}  # README command -> tests that exercise it


def exercises(*commands: str) -> Callable:
    """Declare the README commands a (slow, sandbox) test runs."""

    def decorate(test: Callable) -> Callable:
        test.commands = commands  # type: ignore[attr-defined]
        for command in commands:
            EXERCISED.setdefault(command, []).append(test.__name__)
        return pytest.mark.slow(test)

    return decorate


# ---------------------------------------------------------------- reading the README

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.M | re.S)
COMMENT = re.compile(r"\s+#\s.*$")


def fenced(readme: str, language: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(readme) if m.group(1) == language]


def shell_commands(readme: str) -> list[str]:
    """Commands of the ```bash blocks, one per line, without prompts and `# comments`."""
    commands = []
    for block in fenced(readme, "bash"):
        for line in block.splitlines():
            line = COMMENT.sub("", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def section(readme: str, title: str) -> str:
    start = readme.index(f"\n## {title}")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def make_targets(project: bakery.Project) -> set[str]:
    out = project.run("make", "help").stdout
    return set(re.findall(r"^\s*make ([a-z-]+)", out, re.M))


# ---------------------------------------------------------------- the sandbox


class Sandbox(bakery.Project):
    """A clone of the reproduced project; `sh` runs README commands in it."""

    base: bakery.Project
    tmp: Path
    servers: list[subprocess.Popen]


def clone_sharing_venv(base: bakery.Project, dest: Path, source: Path | str) -> bakery.Project:
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True)
    return share_venv(base, dest)


def share_venv(base: bakery.Project, dest: Path) -> bakery.Project:
    """Use the baked project's .venv in another checkout: a symlink, and PYTHONPATH so that
    `import <package>` finds the checkout's own code (the installed package is editable)."""
    if not (dest / ".venv").exists():
        (dest / ".venv").symlink_to(base.path / ".venv")
    # A symlink is not matched by .gitignore's `.venv/`: keep it out of `git add -A`.
    with open(dest / ".git" / "info" / "exclude", "a", encoding="utf-8") as exclude:
        exclude.write("/.venv\n")
    env = {**base.env, "PYTHONPATH": str(dest / "src")}
    for var, value in (
        ("GIT_AUTHOR_NAME", "README test"),
        ("GIT_AUTHOR_EMAIL", "r@example.com"),
        ("GIT_COMMITTER_NAME", "README test"),
        ("GIT_COMMITTER_EMAIL", "r@example.com"),
    ):
        env.setdefault(var, value)
    return bakery.Project(dest, env)


@pytest.fixture(scope="module")
def sandbox(reproduced_project, tmp_path_factory) -> Iterator[Sandbox]:
    base = reproduced_project
    tmp = tmp_path_factory.mktemp("readme")
    project = clone_sharing_venv(base, tmp / "sandbox" / SLUG, base.path)
    shutil.copytree(base.path / ".dvc" / "cache", project.path / ".dvc" / "cache")
    tracked = project.run("git", "ls-files", "*.dvc").stdout.split()  # data added with dvc add
    project.venv("dvc", "checkout", "--quiet", *tracked)
    box = Sandbox(project.path, project.env)
    box.base, box.tmp, box.servers = base, tmp, []
    yield box
    for server in box.servers:
        stop(server)
    print("\n".join(["README commands and their times:", *box.log]))


@pytest.fixture
def sh(request, sandbox) -> Callable[..., subprocess.CompletedProcess]:
    """sh(command, ...) runs one README command the current test declared, in the sandbox.

    `fill` replaces placeholders (only those listed in SUBSTITUTE); `check=False` returns
    a failure instead of raising; `cwd`/`env` adjust where and with what it runs.
    """
    declared = request.function.commands

    def run(
        command: str,
        *,
        fill: dict[str, str] | None = None,
        check: bool = True,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess:
        assert command in declared, f"{command!r} is not declared by this test"
        for placeholder, value in (fill or {}).items():
            assert placeholder in command, placeholder
            assert any(placeholder in known for known in SUBSTITUTE), placeholder
            command = command.replace(placeholder, value)
        return sandbox.run("bash", "-c", command, check=check, cwd=cwd, env=env, timeout=timeout)

    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(sandbox: Sandbox, command: str, url: str, timeout: float = 180) -> subprocess.Popen:
    """Start a server (its own process group) and wait until `url` answers 200."""
    log = open(sandbox.tmp / f"server-{len(sandbox.servers)}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=sandbox.path,
        env=sandbox.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sandbox.servers.append(server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(1)
    stop(server)
    pytest.fail(f"`{command}` did not answer on {url}:\n{Path(log.name).read_text()[-4000:]}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def pipeline_run_id(project: bakery.Project) -> str:
    """The latest finished run of the pipeline made by `dvc exp run` (DVC kept its code)."""
    code = (
        "import mlflow\n"
        "runs = mlflow.search_runs(search_all_experiments=True, output_format='list',\n"
        "    filter_string=\"attributes.status = 'FINISHED'\", order_by=['start_time DESC'])\n"
        "print(next((r.info.run_id for r in runs if r.data.tags.get('run.kind') == 'pipeline'\n"
        "            and r.data.tags.get('dvc.exp_name')), ''))\n"
    )
    run_id = project.run(project.python, "-c", code).stdout.strip()
    assert run_id, "no finished pipeline run from `dvc exp run` in the sandbox's MLflow store"
    return run_id


def finished_runs(project: bakery.Project) -> list[str]:
    code = (
        "import mlflow\n"
        "runs = mlflow.search_runs(search_all_experiments=True, output_format='list',\n"
        "    filter_string=\"attributes.status = 'FINISHED'\")\n"
        "print(' '.join(r.info.run_id for r in runs))\n"
    )
    return project.run(project.python, "-c", code).stdout.split()


def experiment_names(project: bakery.Project) -> list[str]:
    rows = json.loads(project.venv("dvc", "exp", "show", "--json").stdout)
    return [
        exp["name"] for row in rows for exp in (row.get("experiments") or []) if exp.get("name")
    ]


# ---------------------------------------------------------------- what is claimed


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> bakery.Project:
    """The default answers, baked without set-up: enough for `make help` and `make -n`."""
    path = bakery.bake(tmp_path_factory.mktemp("readme-static"), accept_hooks=False)
    return bakery.Project(path, bakery.project_env(path))


def test_every_readme_command_is_exercised(baked):
    readme = (baked.path / "README.md").read_text(encoding="utf-8")
    commands = set(shell_commands(readme))
    claimed = set(EXERCISED) | set(test_cruft_update.README_COMMANDS)
    assert not commands - claimed, f"README commands no test exercises: {commands - claimed}"
    assert not claimed - commands, f"tests claim commands the README lacks: {claimed - commands}"


def test_every_make_target_mentioned_exists(baked):
    readme = (baked.path / "README.md").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`make ([a-z][a-z-]*)", readme))  # inline code
    mentioned |= {c.split()[1] for c in shell_commands(readme) if c.startswith("make ")}
    assert {"setup", "repro", "ui", "sweep", "compare", "reproduce"} <= mentioned
    assert not mentioned - make_targets(baked), "README names targets make lacks"


def windows_rows(readme: str) -> list[tuple[str, str]]:
    table = section(readme, "Without make (Windows)")
    return re.findall(r"^\| `(make [^`]+)` \| `([^`]+)` \|$", table, re.M)


def normalise(command: str) -> str:
    command = command.replace("\\", "/").strip()
    command = re.sub(r"^\.venv/bin/", "", command)  # the activated environment
    return re.sub(r"^python3 ", "python ", command)


def test_windows_table_lists_every_target_with_the_same_command(baked):
    """Each make target is a thin wrapper: the README's command is what `make -n` runs."""
    readme = (baked.path / "README.md").read_text(encoding="utf-8")
    rows = windows_rows(readme)
    assert {make.split()[1] for make, _ in rows} == make_targets(baked) - {"help"}
    for make, windows in rows:
        target, *assignment = re.split(r" (?=\w+=)", make)  # VAR=value may hold spaces
        target = target.removeprefix("make ")
        dry = baked.run("make", "-n", "--no-print-directory", target, *assignment)
        recipe = [line for line in dry.stdout.splitlines() if line.strip()]
        assert len(recipe) == 1, f"make {target} runs more than one command: {recipe}"
        if target == "clean":  # PowerShell spells `rm -rf a b` differently
            removed = set(recipe[0].split()[2:])
            assert set(windows.split(" Ignore ", 1)[1].split(", ")) == removed, windows
        else:  # the Makefile may spell the project's own folder out: the README need not
            recipe_here = recipe[0].replace(f"{baked.path}/", "")
            assert normalise(windows) == normalise(recipe_here), make


# ---------------------------------------------------------------- the README, section by section


@exercises("make setup", "make repro", "make ui", "source .venv/bin/activate")
def test_quick_start(sh, sandbox):
    sh("make setup")  # the sandbox shares the set-up .venv: installs only the git hook
    assert (sandbox.path / ".git" / "hooks" / "pre-commit").exists()
    sh("make repro")
    metrics = json.loads((sandbox.path / "reports" / "metrics.json").read_text())
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(metrics)
    dry = sandbox.run("make", "-n", "ui").stdout  # DRY: a server that runs until Ctrl-C
    assert ".commands.ui --port 5000" in dry  # (test_slow_own_data.py starts it)
    assert (sandbox.path / ".venv" / "bin" / "mlflow").exists()
    path_without_venv = os.pathsep.join(
        p for p in sandbox.env["PATH"].split(os.pathsep) if not p.endswith(".venv/bin")
    )
    env = {"PATH": path_without_venv, "VIRTUAL_ENV": ""}
    activated = sandbox.run(
        "bash", "-c", "source .venv/bin/activate && command -v dvc", env=env
    ).stdout.strip()
    assert Path(activated).resolve() == (sandbox.path / ".venv" / "bin" / "dvc").resolve()


@exercises("make lint")
def test_lint_passes_on_the_fresh_project_without_changes(sh, sandbox):
    before = sandbox.run("git", "status", "--porcelain").stdout
    try:
        sh("make lint")
        assert sandbox.run("git", "status", "--porcelain").stdout == before
    finally:  # housekeeping: what a failing hook rewrote must not leak into later tests
        sandbox.run("git", "checkout", "--", ".")


@exercises(
    "dvc exp run -S model=svm",
    "dvc exp run -S model.C=0.5",
    "dvc exp run -S +experiment=svm_rbf_tuned",
    "dvc exp show",
    "dvc exp apply <experiment name>",
)
def test_run_an_experiment(sh, sandbox):
    sh("dvc exp run -S model=svm")
    assert "name: svm" in (sandbox.path / "params.yaml").read_text()
    sh("dvc exp run -S model.C=0.5")
    sh("dvc exp run -S +experiment=svm_rbf_tuned")
    params = (sandbox.path / "params.yaml").read_text()
    assert "C: 10.0" in params and "gamma: 0.03" in params
    shown = sh("dvc exp show").stdout
    assert "f1" in shown
    names = experiment_names(sandbox)
    assert len(names) >= 3
    sh("dvc exp apply <experiment name>", fill={"<experiment name>": names[-1]})


@exercises("make params", "dvc repro", "git add -A", 'git commit -m "Use an SVM by default"')
def test_make_a_change_the_default(sh, sandbox):
    config = sandbox.path / "conf" / "config.yaml"
    text = config.read_text()
    config.write_text(re.sub(r"- model: \w+", "- model: svm", text, count=1))  # "by hand"
    sh("make params")
    sh("dvc repro")
    sh("git add -A")
    sh('git commit -m "Use an SVM by default"')  # through the pre-commit hooks
    assert sandbox.run("git", "log", "-1", "--format=%s").stdout.strip() == "Use an SVM by default"


@exercises(
    "cp /path/to/my_data.csv data/raw/my_data.csv",
    "make data-config CSV=data/raw/my_data.csv TARGET=my_target",
    "git add data/raw/my_data.csv.dvc data/raw/.gitignore conf/data/my_data.yaml",
    "dvc exp run -S data=my_data",
    "dvc add data/raw/my_data.csv",
    "git add data/raw/my_data.csv.dvc data/raw/.gitignore",
    'git commit -m "Add my_data.csv"',
    "dvc remote add -d storage /path/or/s3://bucket/path",
    'git commit -m "Use a DVC remote" .dvc/config',
    "dvc push",
    f"git clone <repository url> {SLUG}",
    f"cd {SLUG}",
    "make setup",
    "dvc pull",
    "dvc repro",
)
def test_own_csv_versioned_and_a_teammate_gets_the_same_numbers(sh, sandbox):
    """ "Use your own CSV", "Version new data" and the teammate, as one story.

    Runs after test_make_a_change_the_default, which committed dvc.lock and reports/ with
    the outputs in the workspace: `dvc push` sends what HEAD names, so the teammate's
    `dvc pull` finds every version HEAD needs. The new data's own experiment runs last; the
    workspace then goes back to HEAD's results, for the sections that follow.
    """
    assert sandbox.run("git", "ls-files", "dvc.lock").stdout.strip() == "dvc.lock", (
        "HEAD has no dvc.lock: test_make_a_change_the_default did not commit"
    )
    # Someone else's CSV: the penguins rows with a renamed target column.
    raw = (sandbox.path / "data" / "raw" / "penguins-raw.csv").read_text()
    mine = sandbox.tmp / "my_data.csv"
    mine.write_text(raw.replace("Species", "Kind", 1))
    sh("cp /path/to/my_data.csv data/raw/my_data.csv", fill={"/path/to/my_data.csv": str(mine)})
    sh("make data-config CSV=data/raw/my_data.csv TARGET=my_target", fill={"my_target": "Kind"})
    config = (sandbox.path / "conf" / "data" / "my_data.yaml").read_text()
    assert "target: kind" in config and "  - individual_id  # " in config, config
    sh("git add data/raw/my_data.csv.dvc data/raw/.gitignore conf/data/my_data.yaml")
    # Committed without .venv on PATH: the hooks find the project's tools themselves.
    no_venv = os.pathsep.join(p for p in sandbox.env["PATH"].split(os.pathsep) if ".venv" not in p)
    sh('git commit -m "Add my_data.csv"', env={"PATH": no_venv, "VIRTUAL_ENV": ""})
    sh("dvc add data/raw/my_data.csv")  # "Version new data": the file is unchanged: nothing new
    sh("git add data/raw/my_data.csv.dvc data/raw/.gitignore")
    assert sandbox.run("git", "status", "--porcelain", "data/raw").stdout == ""
    remote = sandbox.tmp / "dvc-remote"
    sh(
        "dvc remote add -d storage /path/or/s3://bucket/path",
        fill={"/path/or/s3://bucket/path": str(remote)},
    )
    sh('git commit -m "Use a DVC remote" .dvc/config')
    sh("dvc push")
    assert any(remote.rglob("*")), "dvc push stored nothing"

    team = sandbox.tmp / "teammate"
    team.mkdir()
    sh(f"git clone <repository url> {SLUG}", fill={"<repository url>": str(sandbox.path)}, cwd=team)
    sh(f"cd {SLUG}", cwd=team)
    clone = team / SLUG
    share_venv(sandbox.base, clone)  # stands in for the install `make setup` would do
    env = {"PYTHONPATH": str(clone / "src")}
    for command in ("make setup", "dvc pull", "dvc repro"):
        sh(command, cwd=clone, env=env)
    assert (clone / "data" / "raw" / "my_data.csv").read_bytes() == mine.read_bytes()
    status = sandbox.run(clone / ".venv" / "bin" / "dvc", "status", cwd=clone, env=env).stdout
    assert "up to date" in status, status
    committed = sandbox.run("git", "show", "HEAD:reports/metrics.json").stdout
    assert (clone / "reports" / "metrics.json").read_text() == committed

    sh("dvc exp run -S data=my_data")
    assert "raw_path: data/raw/my_data.csv" in (sandbox.path / "params.yaml").read_text()
    assert json.loads((sandbox.path / "reports" / "metrics.json").read_text())["f1"] > 0.5
    sandbox.run("git", "checkout", "--", "params.yaml", "dvc.lock", "reports")
    sandbox.venv("dvc", "checkout", "--quiet")


@exercises(
    "make sweep", "dvc exp run --queue -S 'model=logreg,svm'", "dvc queue start", "dvc queue status"
)
def test_run_a_sweep(sh, sandbox):
    sh("make sweep")
    before = len(experiment_names(sandbox))
    sh("dvc exp run --queue -S 'model=logreg,svm'")
    sh("dvc queue start")
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = sh("dvc queue status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(5)
    assert "Failed" not in status, status
    assert len(experiment_names(sandbox)) >= before + 2


@exercises("make compare", "make compare METRIC=roc_auc")
def test_compare_runs(sh):
    assert sh("make compare").stdout.strip()
    assert "roc_auc" in sh("make compare METRIC=roc_auc").stdout


@exercises("make reproduce RUN=<run id>")
def test_reproduce_a_run(sh, sandbox):
    sh("make reproduce RUN=<run id>", fill={"<run id>": pipeline_run_id(sandbox)})


@exercises("dvc exp run -S model=gradient_boosting")
def test_add_a_model(sh, sandbox):
    readme = (sandbox.path / "README.md").read_text(encoding="utf-8")
    [model_yaml] = fenced(section(readme, "Add a model"), "yaml")
    (sandbox.path / "conf" / "model" / "gradient_boosting.yaml").write_text(model_yaml)
    sh("dvc exp run -S model=gradient_boosting")
    assert "name: gradient_boosting" in (sandbox.path / "params.yaml").read_text()
    metrics = json.loads((sandbox.path / "reports" / "metrics.json").read_text())
    assert metrics["f1"] > metrics["baseline"]["f1"]  # one YAML file, a real model


@exercises(
    'python -c "import torch; print(torch.cuda.is_available())"',
    "dvc exp run -S model=mlp -S trainer.device=auto",
    "dvc exp run -S model=mlp -S trainer.device=cuda",
    "rm -rf .venv && TORCH_BACKEND=cpu make setup",
    "rm -rf .venv && TORCH_BACKEND=cu126 make setup",
    TORCHRUN,
    "dvc commit -f train",
    "dvc repro",
)
def test_use_a_gpu(sh, sandbox):
    has_cuda = sh('python -c "import torch; print(torch.cuda.is_available())"').stdout.strip()
    assert has_cuda in ("True", "False")
    sh("dvc exp run -S model=mlp -S trainer.device=auto")
    cuda = sh("dvc exp run -S model=mlp -S trainer.device=cuda", check=has_cuda == "True")
    if has_cuda == "False":
        assert cuda.returncode != 0
        assert "no CUDA GPU" in cuda.stdout + cuda.stderr, "the failure says why"
    # CHECKED, not run: they delete the shared .venv, and cu126 downloads GBs.
    bootstrap = (sandbox.path / "scripts" / "bootstrap.py").read_text()
    assert 'os.environ.get("TORCH_BACKEND"' in bootstrap and '"--torch-backend"' in bootstrap
    assert "scripts/bootstrap.py" in sandbox.run("make", "-n", "setup").stdout
    # torchrun through the real train stage, 2 CPU processes (gloo): one model, one run.
    sandbox.run("bash", "-c", "dvc exp run -S model=mlp -S trainer.max_epochs=5")
    runs_before = len(finished_runs(sandbox))
    model = sandbox.path / "models" / "model.joblib"
    model.unlink()
    port = free_port()
    sh(
        TORCHRUN,
        fill={"--master-port=29500": f"--master-port={port}"},
    )

    assert model.exists()
    summary = json.loads((sandbox.path / "reports" / "train.json").read_text())
    assert summary["world_size"] == 2
    sh("dvc commit -f train")
    sh("dvc repro")
    assert len(finished_runs(sandbox)) == runs_before + 1


@exercises(
    f"python -m ipykernel install --user --name {SLUG}",
    "jupytext --sync notebooks/eda.ipynb",
    "pytest tests/test_notebook.py",
)
def test_notebooks(sh, sandbox):
    jupyter = sandbox.tmp / "jupyter"
    sh(f"python -m ipykernel install --user --name {SLUG}", env={"JUPYTER_DATA_DIR": str(jupyter)})
    spec = json.loads((jupyter / "kernels" / SLUG / "kernel.json").read_text())
    assert Path(spec["argv"][0]).resolve() == (sandbox.path / ".venv/bin/python").resolve()
    before = sandbox.run("git", "status", "--porcelain", "notebooks").stdout
    sh("jupytext --sync notebooks/eda.ipynb")
    assert sandbox.run("git", "status", "--porcelain", "notebooks").stdout == before
    sh("pytest tests/test_notebook.py")


@exercises("make report")
def test_write_up_findings(sh, sandbox):
    sh("make report")
    assert (sandbox.path / "docs" / "model_card.md").exists()
    assert (sandbox.path / "docs" / "experiment_log.md").exists()


@exercises("ssh -L 5000:127.0.0.1:5000 you@server", TEAM_SERVER)
def test_share_the_ui_safely(sh, sandbox):
    # CHECKED: the tunnel forwards the port `make ui` serves on 127.0.0.1 (needs a host).
    # (test_slow_own_data.py runs `make ui`: it answers on 127.0.0.1 only.)
    assert "--port 5000" in sandbox.run("make", "-n", "ui").stdout
    # RUN with stand-ins: SQLite for PostgreSQL, a folder for S3, a free port.
    port = free_port()
    command = (
        TEAM_SERVER.replace(
            "postgresql+psycopg://mlflow:PASSWORD@db-host:5432/mlflow",
            f"sqlite:///{sandbox.tmp / 'team.db'}",
        )
        .replace("s3://team-bucket/mlflow", str(sandbox.tmp / "team-artifacts"))
        .replace("--port 5000", f"--port {port}")
    )
    server = start(sandbox, command, f"http://127.0.0.1:{port}/health")
    stop(server)


@exercises(SERVE, CURL)
def test_serve_the_model(sh, sandbox):
    """Needs `make report` (test_write_up_findings) to have set the champion alias."""
    port = free_port()
    server = start(
        sandbox,
        SERVE.replace("--port 5001", f"--port {port}"),
        f"http://127.0.0.1:{port}/ping",
        timeout=300,
    )
    try:
        answer = sh(CURL, fill={"127.0.0.1:5001": f"127.0.0.1:{port}"}).stdout
    finally:
        stop(server)
    predictions = json.loads(answer)["predictions"]
    # The champion may predict the island (the default task) or the species (the sandbox's
    # own-CSV experiment): the row carries the columns of both.
    expected = ("Biscoe", "Dream", "Torgersen", "Adelie", "Chinstrap", "Gentoo")
    assert len(predictions) == 1 and predictions[0] in expected, answer
