"""The run of one pipeline, seen from the train and evaluate stages.

A stage never talks to MLflow itself: it hands events to the pipeline's logger process (see
logger.py) from a writer thread and goes on, so that training never waits for the store, nor
for `import mlflow`, and never shares its interpreter with MLflow.
"""

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from multiprocessing import AuthenticationError
from pathlib import Path
from typing import Any

from ..config import Config, Paths
from ..errors import PipelineError
from . import logger
from .record import status_for
from .store import PACKAGE, SWITCH_ENV, enabled, tracking_uri

RUN_FILE = "run.json"  # in models/model/: the token of the pipeline run that trained the model
CONNECT_TIMEOUT_S = 60.0  # a new logger process listens within a second, even on a busy machine


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the trainer's own handler: handled like Ctrl-C (run KILLED, exit 143)."""

    exit_code = 128 + signal.SIGTERM


def read_token(model_dir: Path) -> str | None:
    """The pipeline run's token that train wrote beside the model (None if there is none)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads((model_dir / RUN_FILE).read_text())["token"])
    return None


def start_logger(session: str) -> subprocess.Popen:
    """The logger process, in its own session: it outlives train, and Ctrl-C is the stage's."""
    src = str(Path(__file__).resolve().parent.parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
    }
    # Not the stage's stdout/stderr: a process that outlives the stage must not hold them open
    # (DVC and anyone capturing the stage's output would wait for it).
    with open(logger.log_path(session), "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", f"{PACKAGE}.tracking", "logger", session],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
            start_new_session=True,
        )


def snapshot(paths: Paths, token: str) -> Path:
    """Hard links (copies where links fail) of the model and featurizer that the logger logs
    after train has left: DVC may be moving the originals into its cache meanwhile."""
    folder = paths.root / ".scratch" / "tracking" / token
    folder.mkdir(parents=True, exist_ok=True)

    def place(src, dst) -> None:
        try:
            os.link(src, dst)
        except (OSError, AttributeError):
            shutil.copy2(src, dst)

    shutil.copytree(paths.model, folder / "model", copy_function=place, dirs_exist_ok=True)
    place(paths.featurizer, folder / "featurizer.joblib")
    return folder


class PipelineRun:
    """The stage's side: a connection to the logger, fed from a queue by a writer thread."""

    def __init__(self, cfg: Config, paths: Paths, *, stage: str):
        self.stage, self.paths = stage, paths
        self.run_id: str | None = None
        self._error: str | None = None
        self._done = threading.Event()
        self._ended = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._conn = self._process = None
        self._start = {"op": "start", "cfg": cfg, "root": str(paths.root), "stage": stage}
        self.token = read_token(paths.model) if stage == "evaluate" else None
        if self.token is None:  # a new pipeline run: its logger starts now
            self.token = uuid.uuid4().hex
            self._spawn(self.token)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    # -- the connection -----------------------------------------------------------------------

    def _spawn(self, session: str) -> None:
        self._session, self._process = session, start_logger(session)

    def _open(self):
        """A connection: to train's logger if it still runs (evaluate), else to a new one."""
        if self._process is None:
            with contextlib.suppress(OSError, EOFError, ValueError, AuthenticationError):
                conn = logger.connect(self.token)
                logger.send(conn, op="attach")
                # Answered once the logger has done what train left it (the model): an end
                # of file instead means it was just leaving, so a new logger reopens the run.
                self.run_id = json.loads(conn.recv_bytes()).get("run_id")
                return conn
            self._spawn(uuid.uuid4().hex)  # not the token: a dead logger may have left its socket
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline and self._process.poll() is None:
            with contextlib.suppress(OSError, EOFError, AuthenticationError):
                conn = logger.connect(self._session)  # it listens before importing mlflow
                logger.send(conn, **self._start, token=self.token)
                return conn
            time.sleep(0.01)
        return None

    def _write(self) -> None:
        """Connect, then send the stage's events as they come; replies go to _read."""
        self._conn = conn = self._open()
        if conn is None:
            self._error = self._stopped("did not start")
            self._done.set()
            return
        threading.Thread(target=self._read, args=(conn,), daemon=True).start()
        while (message := self._queue.get()) is not None:
            try:
                conn.send_bytes(message)
            except (OSError, ValueError):
                return  # the logger is gone: _read reports why

    def _read(self, conn) -> None:
        while True:
            try:
                reply = json.loads(conn.recv_bytes())
            except (EOFError, OSError, ValueError, TypeError):  # TypeError: closed by finish()
                if not self._done.is_set():
                    self._error = self._error or self._stopped("stopped")
                self._done.set()
                return
            self.run_id = reply.get("run_id", self.run_id)
            self._error = reply.get("error", self._error)
            if reply.get("done"):
                self._done.set()

    def _stopped(self, what: str) -> str:
        """Why the logger process is gone: the last line of its log, when it left one."""
        with contextlib.suppress(OSError, IndexError, subprocess.TimeoutExpired):
            if self._process:
                self._process.wait(5)
                path = logger.log_path(self._session)
                return f"the logger process {what}: {path.read_text().splitlines()[-1]} ({path})"
        return f"the logger process {what}"

    def _send(self, message: dict) -> None:
        self._queue.put(logger.encode(message))

    # -- what the stages call -----------------------------------------------------------------

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """The trainer's per-epoch callback: a line into a queue, never a store round trip."""
        self._send(
            {
                "op": "epoch",
                "epoch": epoch,
                "ts": int(time.time() * 1000),
                "metrics": {f"epoch.{k}": float(v) for k, v in metrics.items()},
            }
        )

    def write_run_file(self, folder: Path) -> None:
        (folder / RUN_FILE).write_text(json.dumps({"token": self.token}) + "\n")

    def log_fit(self, summary: Mapping[str, Any], seconds: float) -> None:
        """The trainer's summary: numbers as fit.* metrics, the rest (device, ...) as tags."""
        numbers = {
            f"fit.{k}": float(v)
            for k, v in summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        tags = {f"fit.{k}": str(v) for k, v in summary.items() if f"fit.{k}" not in numbers}
        if "device" in summary:
            tags["device"] = str(summary["device"])
        self._send({"op": "log", "metrics": {**numbers, "fit.seconds": seconds}, "tags": tags})

    def log_evaluation(self, metrics: Mapping[str, Any]) -> None:
        """Metrics, reports and (unless tracking.log_model is false) the pyfunc model."""
        self._send({"op": "evaluation", "metrics": dict(metrics)})

    def finish(self, status: str, timeout: float = 600) -> None:
        """End the run with `status` and wait until it is written; a train that succeeded
        hands the model over instead and leaves the logger to it (evaluate ends the run)."""
        if self._ended:
            return
        self._ended = True
        detach = self.stage == "train" and status == "FINISHED"
        if detach:
            self._send({"op": "detach", "snapshot": str(snapshot(self.paths, self.token))})
        else:
            self._send({"op": "end", "status": status})
        self._queue.put(None)
        self._writer.join(CONNECT_TIMEOUT_S)
        if not detach and not self._done.wait(timeout):
            if self._process:
                self._process.kill()
            raise PipelineError(
                f"the MLflow logger did not finish in {timeout:.0f} s (store: {tracking_uri()})"
            )
        self._done.set()  # train: the end of file that closing brings is expected
        with contextlib.suppress(OSError, AttributeError):
            self._conn.close()  # train: the logger goes on alone
        if self._error:
            raise PipelineError(
                f"MLflow tracking failed ({self._error}); store: {tracking_uri()}. Fix "
                f"MLFLOW_TRACKING_URI, or run untracked with {SWITCH_ENV}=0"
            )


class _NoRun:
    """Stands in for PipelineRun when tracking is off."""

    run_id = None

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        pass

    def write_run_file(self, folder: Path) -> None:
        (folder / RUN_FILE).unlink(missing_ok=True)  # never point at an older run

    def log_fit(self, summary: Mapping[str, Any], seconds: float) -> None:
        pass

    def log_evaluation(self, metrics: Mapping[str, Any]) -> None:
        pass


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def pipeline_run(cfg: Config, paths: Paths, *, stage: str) -> Iterator[PipelineRun | _NoRun]:
    """The tracked part of a stage's main(): ends the run FINISHED, FAILED or KILLED."""
    if not enabled(cfg):
        yield _NoRun()
        return
    previous = signal.getsignal(signal.SIGTERM)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        signal.signal(signal.SIGTERM, _raise_terminated)
    run = PipelineRun(cfg, paths, stage=stage)
    try:
        yield run
    except BaseException as exc:
        with contextlib.suppress(Exception):
            run.finish(status_for(exc))
        raise
    else:
        run.finish("FINISHED")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def exit_on_interrupt(main) -> None:
    """Run a stage's main; Ctrl-C / SIGTERM end with one line and exit 130 / 143."""
    from ..errors import run_cli

    try:
        run_cli(main)
    except KeyboardInterrupt as exc:
        print(f"\n{exc or 'interrupted'}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 130))
