"""The MLflow UI, opened on the active dataset's runs: `make ui [DATA=penguins] [PORT=5000]`.

Prints the address of that dataset's runs table (and opens it where a desktop browser
exists), then runs `mlflow ui` on 127.0.0.1 only: the UI has no login.
"""

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Sequence
from pathlib import Path

from .. import tracking
from ..config import load_params
from ..errors import run_cli
from ..metrics import LOWER_IS_BETTER
from .compare import headline


def runs_page(port: int, data: str | None = None) -> str:
    """The address of the dataset's runs table, best first as `make compare` ranks them; the
    experiments list while it has no runs."""
    name = tracking.experiment_name(load_params(), data)
    if (found := tracking.client().get_experiment_by_name(name)) is None:
        print(f"ui: no runs in {name!r} yet (run `make repro`): showing every experiment")
        return f"http://127.0.0.1:{port}/"
    metric = headline(data)
    order = f"orderByKey=metrics.%60{metric}%60&orderByAsc={str(metric in LOWER_IS_BETTER).lower()}"
    return f"http://127.0.0.1:{port}/#/experiments/{found.experiment_id}/runs?{order}"


def has_desktop() -> bool:
    """A browser window can open (not over SSH, in CI or a container without a display)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="open on this data config's runs (default: the active)")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    url = runs_page(args.port, args.data)
    print(f"ui: open {url}  (Ctrl-C stops the server)", flush=True)
    if has_desktop():  # once the server had time to start
        threading.Timer(3.0, webbrowser.open, [url]).start()
    mlflow = Path(sys.executable).with_name("mlflow")
    server = [mlflow, "ui", "--backend-store-uri", tracking.tracking_uri(), "--host", "127.0.0.1"]
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the server too
        subprocess.run([*server, "--port", str(args.port), "--workers", "1"], check=False)


if __name__ == "__main__":
    run_cli(main)
