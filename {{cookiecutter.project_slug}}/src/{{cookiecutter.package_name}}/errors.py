"""User-facing errors: one clear line instead of a traceback from deep inside a library."""

import sys
from collections.abc import Callable


class PipelineError(Exception):
    """A problem the user can fix: the message names the file or field and the fix."""


def run_cli(main: Callable[[], object]) -> None:
    """Run an entry point: a PipelineError becomes `error: ...` and exit code 1;
    Ctrl-C (or SIGTERM turned into an interrupt by the trainer) exits 130 / 143."""
    try:
        main()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        print(f"stopped: {str(exc) or 'interrupted'}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 130))
