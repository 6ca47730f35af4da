"""The terminal side of training: a progress bar, and stopping cleanly on Ctrl-C or SIGTERM.

A signal does not kill the loop mid-step: the loop finishes the step, saves a checkpoint and
raises TrainingInterrupted, so the same command run again resumes where it stopped.
"""

import signal
import sys
import threading
from pathlib import Path

from tqdm import tqdm

from ..distributed import World
from .config import TrainerConfig


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped training after a checkpoint was saved.

    A KeyboardInterrupt, so `except Exception` blocks let it through. The train stage catches it,
    ends the MLflow run as KILLED and exits with `exit_code` (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int, checkpoint: Path | None):
        self.signum, self.checkpoint, self.exit_code = signum, checkpoint, 128 + signum
        where = f"checkpoint saved to {checkpoint}; " if checkpoint else ""
        super().__init__(
            f"training stopped by {signal.Signals(signum).name}: {where}"
            "run again with trainer.resume=auto to continue"
        )


class StopOnSignal:
    """Turn Ctrl-C and SIGTERM into a request the loop honours after the current step."""

    signum: int | None = None

    def __enter__(self):
        self._previous = {}
        if threading.current_thread() is threading.main_thread():  # Python's rule for handlers
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._request)
        return self

    def _request(self, signum, frame):
        if self.signum is not None:  # asked twice: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def progress_bar(cfg: TrainerConfig, world: World, steps_per_epoch: int, done_steps: int):
    """A bar over all steps, with the last epoch's numbers; silent when output is not a terminal."""
    show = cfg.progress is True or (cfg.progress == "auto" and sys.stderr.isatty())
    return tqdm(
        total=cfg.max_epochs * steps_per_epoch,
        initial=done_steps,
        unit="step",
        disable=not (show and world.is_main),
        mininterval=0.5,
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
    )
