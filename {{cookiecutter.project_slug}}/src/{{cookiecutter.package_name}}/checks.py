"""Repository checks the pre-commit hooks run that no standard tool covers.

    python -m {{ cookiecutter.package_name }}.checks large-files [--max-kb 500] FILE...

Standard library only, so a hook starts in milliseconds.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def human(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size < 1024**2 else f"{size / 1024**2:.1f} MB"


def large_files(files: Sequence[str], max_kb: int) -> list[str]:
    """One message per file over the limit, saying how to hand it to DVC instead."""
    messages = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > max_kb * 1024:
            messages.append(
                f"{name} is {human(size)} (the limit is {max_kb} KB): data and models belong "
                "to DVC, not git. Track it with DVC instead:\n"
                f"    git rm --cached {name}\n"
                f"    dvc add {name}\n"
                f"    git add {name}.dvc {path.parent.as_posix()}/.gitignore\n"
                "  then `dvc push` to share it. (A file that really belongs in git: raise "
                "--max-kb for this hook in .pre-commit-config.yaml.)"
            )
    return messages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    large = commands.add_parser("large-files", help="refuse files over --max-kb")
    large.add_argument("--max-kb", type=int, default=500)
    large.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    messages = large_files(args.files, args.max_kb)
    for message in messages:
        print(message, file=sys.stderr)
    return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main())
