"""The logger process: the one place where a pipeline run talks to MLflow.

`train` starts it (`python -m <package>.tracking logger <session>`) and goes on training while
it imports mlflow (~2 s with the store) and creates the run. When train has saved the model it
hands over a snapshot of it and leaves; the logger logs the model while DVC moves on and
`evaluate` computes, then evaluate attaches (the session is the token in models/model/run.json),
sends its metrics and waits for the run to end. So the pipeline waits for MLflow only for the
last few writes. If no stage attaches within ATTACH_TIMEOUT_S (`dvc repro train`), the run ends
FINISHED; a later evaluate reopens it.

Stages talk to it over a local socket (multiprocessing.connection: a Unix socket, or a named
pipe on Windows, keyed by the session, with the session as authentication key), one JSON
message each:
  start {cfg, root, stage, token}  open the run (reopen token's run for evaluate)
  attach                           a stage joins a running logger (evaluate)
  epoch {epoch, ts, metrics}       curves: sent in one batch every FLUSH_EVERY_S seconds
  log {metrics, tags}              anything else (the trainer's summary)
  detach {snapshot}                train is done: log the model from the snapshot, wait
  evaluation {metrics}             metrics and reports (and the model, if not logged yet)
  end {status}                     end the run FINISHED, FAILED or KILLED
A stage that disappears without `detach` or `end` (SIGKILL, out of memory) ends the run KILLED.
Replies: {run_id}, {error} and, after `end`, {done}.
"""

import contextlib
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from pathlib import Path

from ..config import Paths
from .store import PACKAGE

FLUSH_EVERY_S = 5.0  # epoch metrics are sent to the store in one batch at most this often
ATTACH_TIMEOUT_S = 60.0  # after train leaves, how long the logger waits for evaluate
FAMILY = "AF_PIPE" if sys.platform == "win32" else "AF_UNIX"


def address(session: str) -> str:
    if FAMILY == "AF_PIPE":
        return rf"\\.\pipe\{PACKAGE}-logger-{session}"
    # Short: a Unix socket's path has a limit of about 100 characters.
    return str(Path(tempfile.gettempdir()) / f"mlflow-logger-{session[:16]}.sock")


def log_path(session: str) -> Path:
    """The logger's stderr (MLflow's warnings, a traceback); removed when all went well."""
    return Path(tempfile.gettempdir()) / f"mlflow-logger-{session[:16]}.log"


def connect(session: str):
    """A connection to the logger of `session`; raises OSError when none listens."""
    return Client(address(session), family=FAMILY, authkey=session.encode())


def encode(message: dict) -> bytes:
    """One message on the wire: JSON (what is not JSON, e.g. a Path, as its text)."""
    return json.dumps(message, default=str).encode("utf-8")


def send(conn, **message) -> None:
    conn.send_bytes(encode(message))


class Logger:
    """One MLflow run, driven by the messages of the stages connected to it."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.listener = Listener(address(session), family=FAMILY, authkey=session.encode())
        self.inbox: queue.Queue = queue.Queue()
        self.owner = None  # the connection of the stage whose death would end the run KILLED
        self.client = self.run_id = self.cfg = self.paths = None
        self.history: list = []
        self.flushed = time.monotonic()
        self.model_logged = False
        threading.Thread(target=self._accept, daemon=True).start()

    # -- the sockets --------------------------------------------------------------------------

    def _accept(self) -> None:
        listener = self.listener
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError, AuthenticationError):  # closed, or a stranger
                if self.listener is None:
                    return
                continue
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn) -> None:
        while True:
            try:
                self.inbox.put((conn, json.loads(conn.recv_bytes())))
            except (EOFError, OSError, ValueError):
                self.inbox.put((conn, {"op": "closed"}))
                return

    def stop_listening(self) -> None:
        listener, self.listener = self.listener, None
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: closed already
            listener.close()

    def reply(self, conn, **message) -> None:
        with contextlib.suppress(OSError, ValueError):
            send(conn, **message)

    # -- the run --------------------------------------------------------------------------------

    def open(self, message: dict) -> None:
        from .record import TOKEN_TAG, find_run, start_run
        from .store import client, retry

        self.cfg, self.paths = message["cfg"], Paths(Path(message["root"]))
        self.client = client()
        token = message["token"]
        if message["stage"] == "evaluate":  # train's run, unless it is in another store
            self.run_id = find_run(self.client, self.cfg, token)
            if self.run_id:
                run = retry(self.client.get_run, self.run_id)
                self.model_logged = "model.uri" in run.data.tags
                retry(self.client.update_run, self.run_id, status="RUNNING")
        if self.run_id is None:
            self.run_id = start_run(
                self.client, self.cfg, self.paths, kind="pipeline", extra_tags={TOKEN_TAG: token}
            )

    def flush(self) -> None:
        from .record import log_batch

        if self.history:
            history, self.history = self.history, []
            log_batch(self.client, self.run_id, history=history)
        self.flushed = time.monotonic()

    def log_model(self, model_dir: Path, featurizer: Path) -> None:
        from .model import log_model

        if self.model_logged or not (self.cfg.get("tracking") or {}).get("log_model", True):
            return
        log_model(
            self.run_id,
            self.cfg,
            featurizer=featurizer,
            model_dir=model_dir,
            example_csv=self.paths.processed / "train.csv",
        )
        self.model_logged = True

    def handle(self, conn, message: dict) -> str | None:
        """Act on one message; return the run's final status once it is decided."""
        from .record import log_batch, log_evaluation

        op = message["op"]
        if op in ("start", "attach"):
            if op == "start":
                self.open(message)
            self.owner = conn
            self.reply(conn, run_id=self.run_id)
        elif op == "epoch":
            self.history.append((message["epoch"], message["ts"], message["metrics"]))
            if time.monotonic() - self.flushed > FLUSH_EVERY_S:
                self.flush()
        elif op == "log":
            log_batch(self.client, self.run_id, metrics=message["metrics"], tags=message["tags"])
        elif op == "detach":
            self.owner = None
            self.flush()
            snapshot = Path(message["snapshot"])
            try:
                self.log_model(snapshot / "model", snapshot / "featurizer.joblib")
            finally:
                shutil.rmtree(snapshot, ignore_errors=True)
        elif op == "evaluation":
            log_evaluation(self.client, self.run_id, self.paths.reports, message["metrics"])
            self.log_model(self.paths.model, self.paths.featurizer)
        elif op == "end":
            return message["status"]
        elif op == "closed" and conn is self.owner:
            return "KILLED"  # the stage died without saying so
        return None

    def next_message(self):
        """The next message; None once no stage is left and none attached in time."""
        try:
            return self.inbox.get(timeout=None if self.owner else ATTACH_TIMEOUT_S)
        except queue.Empty:
            pass
        self.stop_listening()
        try:  # a stage that connected at the last moment has sent its first message by now
            return self.inbox.get(timeout=1.0)
        except queue.Empty:
            return None


def main(session: str) -> None:
    """Entry of the logger process (see the module docstring)."""
    # Ctrl-C and SIGTERM reach the whole process group: the stage decides, and tells us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logger = Logger(session)  # listening first: the stage connects while mlflow imports
    from .record import end_run
    from .store import client, close_sqlite_engines

    status, last, error = "FINISHED", None, None
    try:
        client()  # import mlflow and open the store before the first message is read
        while (item := logger.next_message()) is not None:
            last, message = item
            if (ended := logger.handle(last, message)) is not None:
                status = ended
                break
        logger.stop_listening()  # a stage that comes now starts a new logger instead
        logger.flush()
    except BaseException as exc:  # noqa: BLE001 - reported to the stage, run marked FAILED
        error, status = f"{type(exc).__name__}: {exc}", "FAILED"
        traceback.print_exc()
    finally:
        if logger.run_id:
            with contextlib.suppress(Exception):
                end_run(logger.client, logger.run_id, status)
        for conn in {last, logger.owner} - {None}:
            logger.reply(conn, **({"error": error} if error else {}), done=True)
        logger.stop_listening()
        sys.stderr.flush()
        # Everything is committed: close the database and skip the interpreter's teardown of
        # MLflow, which takes over a second.
        close_sqlite_engines()
        if not error:
            log_path(logger.session).unlink(missing_ok=True)
        os._exit(0)
