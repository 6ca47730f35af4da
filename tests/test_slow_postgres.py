"""Slow tier: the team tracking server of docs/tracking.md, for real, on one machine.

A throwaway PostgreSQL cluster (initdb + pg_ctl from /usr/lib/postgresql/*/bin) in a temporary
folder, on a free port of 127.0.0.1; `mlflow server` on it with its own artifact folder, from
a teammate's clone of the baked project set up with `EXTRAS=postgres`; that project's
`dvc repro` and `make sweep` log into it through MLFLOW_TRACKING_URI; every run is read back
with MLflow's public client, and straight from PostgreSQL; then both servers stop.

The commands are docs/tracking.md's (the DOC_* constants below, checked to be in the rendered
doc), adapted to this machine only where `SUBSTITUTE` says. PostgreSQL's server programs must
be installed (`apt-get install postgresql`; `.ci/run` does it when they are missing): without
them the test fails under CI and is skipped elsewhere. initdb refuses to run as root, so as
root (CI) the cluster belongs to Debian's `postgres` user.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_readme_commands import stop

import bakery

DOC_ROLE = """sudo -u postgres psql -c "CREATE ROLE mlflow LOGIN PASSWORD 'PASSWORD'\""""
DOC_DATABASE = "sudo -u postgres createdb --owner mlflow mlflow"
DOC_SETUP = "EXTRAS=postgres make setup"
DOC_SERVER = (
    ".venv/bin/mlflow server --backend-store-uri "
    "postgresql+psycopg://mlflow:PASSWORD@db-host:5432/mlflow "
    "--artifacts-destination s3://team-bucket/mlflow --host 127.0.0.1 --port 5000"
)
DOC_CLIENT = ("export MLFLOW_TRACKING_URI=http://mlflow-host:5000", "dvc repro", "make sweep")
# docs/tracking.md's text -> what this test runs instead, and why.
SUBSTITUTE = {
    "sudo apt-get install -y postgresql": "done by .ci/run (as root, when missing)",
    "sudo -u postgres": "runuser -u postgres -- when root, else this user: a cluster of its own",
    "psql / createdb": "-h <socket folder> -p <free port> -U postgres (the cluster's superuser)",
    "PASSWORD": "a random password",
    "db-host:5432": "127.0.0.1:<free port>",
    "s3://team-bucket/mlflow": "a local artifact folder",
    "--port 5000 / mlflow-host:5000": "127.0.0.1:<another free port>",
}
MODELS = ("logreg", "mlp", "random_forest", "svm")  # what `make sweep` trains
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def postgres_bin() -> Path | None:
    """The newest PostgreSQL's server programs from Debian's packages, if installed."""
    found = [Path(p).parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if not found:
        return None
    return max(found, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster in a temporary folder, as the user that may own it."""

    def __init__(self, bindir: Path) -> None:
        self.bin = bindir
        self.port = free_port()
        self.password = secrets.token_hex(12)
        # Not under pytest's tmp_path: its parents are private to this user, and as root the
        # server runs as `postgres`, which must reach its folder.
        self.folder = Path(tempfile.mkdtemp(prefix="mlflow-postgres-"))
        self.data = self.folder / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse root
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root, and there is no `postgres` user to own a cluster")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{tool} {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result

    def client(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        """psql, createdb...: as the superuser, over the cluster's own socket folder."""
        return self.run(tool, "-h", str(self.folder), "-p", str(self.port), "-U", "postgres", *args)

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                 "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.folder}"
        )
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "postgres.log"), "-w",
                 "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
             "stop"],
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)

    def uri(self) -> str:
        return f"postgresql+psycopg://mlflow:{self.password}@127.0.0.1:{self.port}/mlflow"


def doc_commands(project: Path) -> str:
    return (project / "docs" / "tracking.md").read_text(encoding="utf-8")


def test_the_doc_gives_the_commands_this_test_runs(bake):
    """Fast: the doc and the slow test below cannot drift apart."""
    project = bake(accept_hooks=False)
    doc = doc_commands(project)
    for command in ("sudo apt-get install -y postgresql", DOC_ROLE, DOC_DATABASE, DOC_SETUP,
                    DOC_SERVER, *DOC_CLIENT):  # fmt: skip
        assert f"\n   {command}\n" in doc, f"docs/tracking.md lacks `{command}`"
    extras = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert extras["optional-dependencies"]["postgres"] == ["psycopg[binary]>=3.2"]


def server_command(project: bakery.Project, cluster: Cluster, artifacts: Path, port: int) -> list:
    command = (
        DOC_SERVER.replace(
            "postgresql+psycopg://mlflow:PASSWORD@db-host:5432/mlflow", cluster.uri()
        )
        .replace("s3://team-bucket/mlflow", str(artifacts))
        .replace("--port 5000", f"--port {port}")
    )
    assert cluster.password in command and str(artifacts) in command
    args = command.split()
    args[0] = str(project.path / args[0])
    return [*args, "--workers", "1"]


@contextlib.contextmanager
def team_server(project: bakery.Project, cluster: Cluster, artifacts: Path) -> Iterator[str]:
    port = free_port()
    log = (artifacts.parent / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        server_command(project, cluster, artifacts, port),
        cwd=project.path,
        env=project.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with its uvicorn workers
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # it creates its tables in PostgreSQL first
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (artifacts.parent / "mlflow-server.log").read_text()[-4000:]
                pytest.fail(f"mlflow server did not start on PostgreSQL:\n{tail}")
            time.sleep(1)
        yield url
    finally:
        stop(server)  # SIGTERM to its process group, SIGKILL after 30 s
        log.close()


READ_BACK = """
import json, sys
import mlflow
from mlflow import MlflowClient

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
experiments = [e.experiment_id for e in client.search_experiments()]
models = {}
for model in client.search_logged_models(experiments):
    models.setdefault(model.source_run_id, []).append(model)
runs = []
for run in client.search_runs(experiments):
    runs.append({
        "id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "metrics": run.data.metrics,
        "params": run.data.params,
        "tags": run.data.tags,
        "artifacts": [a.path for a in client.list_artifacts(run.info.run_id)],
        "models": [
            [a.path for a in mlflow.artifacts.list_artifacts(artifact_uri=m.artifact_location)]
            for m in models.get(run.info.run_id, [])
        ],
    })
print(json.dumps(runs))
"""


@pytest.mark.slow
def test_pipeline_and_sweep_log_into_mlflow_on_postgresql(teammate_project, tmp_path):
    bindir = postgres_bin()
    if bindir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    project = teammate_project
    # DOC_SETUP (EXTRAS=postgres make setup) is the fixture's: psycopg comes from uv.lock.
    found = project.venv("python", "-c", "import psycopg; print(psycopg.__version__)")
    assert found.stdout.strip()
    cluster = Cluster(bindir)
    try:
        cluster.start()
        cluster.client("psql", "-c", f"CREATE ROLE mlflow LOGIN PASSWORD '{cluster.password}'")
        cluster.client("createdb", "--owner", "mlflow", "mlflow")
        artifacts = tmp_path / "artifacts"
        artifacts.mkdir()
        with team_server(project, cluster, artifacts) as url:
            client_env = {"MLFLOW_TRACKING_URI": url}
            project.run(project.bin / "dvc", "repro", env=client_env, timeout=1200)
            project.make("sweep", env=client_env, timeout=1200)
            script = tmp_path / "read_back.py"
            script.write_text(READ_BACK)
            runs = json.loads(project.venv("python", script, url).stdout)
            stored = cluster.client(
                "psql", "-d", "mlflow", "-At", "-c", "SELECT run_uuid, status FROM runs"
            ).stdout.split()
    finally:
        cluster.stop()

    # One pipeline run (dvc repro) + the sweep's parent + one child run per model.
    assert len(runs) == 2 + len(MODELS), [r["name"] for r in runs]
    assert sorted(stored) == sorted(f"{r['id']}|FINISHED" for r in runs), "read from PostgreSQL"
    assert all(r["status"] == "FINISHED" for r in runs)
    parents = [r for r in runs if r["id"] in {c["tags"].get("mlflow.parentRunId") for c in runs}]
    assert len(parents) == 1
    children = [r for r in runs if r["tags"].get("mlflow.parentRunId") == parents[0]["id"]]
    assert sorted(r["params"]["model.name"] for r in children) == sorted(MODELS)
    trained = [r for r in runs if r not in parents]
    assert len(trained) == 1 + len(MODELS)
    for run in trained:
        assert all(name in run["metrics"] for name in METRICS), (run["name"], run["metrics"])
        assert run["params"]["model.name"] in MODELS and len(run["params"]) > 10
        assert run["tags"].get("mlflow.source.git.commit") and run["tags"].get("data.raw.md5")
        assert "reports" in run["artifacts"], run["artifacts"]
        assert len(run["models"]) == 1 and "artifacts/MLmodel" in run["models"][0], run["name"]
    # The files went through the server to its own folder; nothing to a local store.
    assert len(list(artifacts.rglob("MLmodel"))) == len(trained)
    assert not (project.path / "mlflow.db").exists()
    saved = json.loads((project.path / "reports" / "metrics.json").read_text())
    pipeline = next(r for r in trained if r not in children)
    assert pipeline["metrics"]["f1"] == saved["f1"]
