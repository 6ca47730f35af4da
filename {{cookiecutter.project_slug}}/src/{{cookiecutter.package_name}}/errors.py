"""User-facing errors: one clear line instead of a traceback from deep inside a library."""

import sys
from collections.abc import Callable


class PipelineError(Exception):
    """A problem the user can fix: the message names the file or field and the fix."""


def run_cli(main: Callable[[], object]) -> None:
    """Run a stage's entry point; a PipelineError becomes `error: ...` and exit code 1."""
    try:
        main()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
