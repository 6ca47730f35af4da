"""Jinja filters that make free-text answers safe to paste into generated files.

Every answer a user types (names, descriptions) is rendered through one of these,
never raw, so quotes, backslashes, unicode or `{{ }}` cannot break a TOML, YAML,
JSON or Python file, nor inject code into the hooks:

    quoted         TOML / YAML / Python string literal ("..." with escapes)
    hydra_quoted   the same for files Hydra/OmegaConf reads (conf/): `${` stays literal text
    json_quoted    JSON string literal
    docstring      text inside a Python triple-quoted string (one line, \\ and " escaped)
    one_line       Markdown and comments: line breaks folded into spaces

`check_answers` runs the checks of hooks/pre_gen_project.py as soon as the answers
are known (cookiecutter.json's `__answers_checked`), before cookiecutter creates any
folder: a bad answer stops with one line per problem and nothing written. The hook
runs the same checks again when cookiecutter is driven without that key (replay).
Where cookiecutter's own call can be seen (the command line, `cookiecutter()`), the
folder it is about to write is checked too: not a project already (`-f`), writable,
with room for the project.
"""

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from jinja2 import pass_environment
from jinja2.ext import Extension

PRE_GEN_HOOK = Path(__file__).resolve().parent / "hooks" / "pre_gen_project.py"
TEMPLATE_DIR = PRE_GEN_HOOK.parent.parent / "{{cookiecutter.project_slug}}"


def quoted(text: object) -> str:
    """A double-quoted string literal valid in TOML, YAML and Python alike."""
    out = []
    for char in str(text):
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable() and char != "\x7f":
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def hydra_quoted(text: object) -> str:
    """`quoted` for YAML that OmegaConf resolves: the value reads back as typed.

    OmegaConf treats `${...}` as an interpolation; a backslash before it makes it
    literal, and backslashes right before `${` pair up, so n of them become 2n+1.
    """
    escaped = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", str(text))
    return quoted(escaped)


def json_quoted(text: object) -> str:
    """A JSON string literal (JSON has no \\U escape, so it needs its own)."""
    return json.dumps(str(text), ensure_ascii=False)


def one_line(text: object) -> str:
    """Free text for Markdown and comments: line breaks folded into spaces."""
    return " ".join(str(text).split())


def docstring(text: object) -> str:
    """Free text inside a Python \"\"\"docstring\"\"\": one line, reads back as typed."""
    return one_line(text).replace("\\", "\\\\").replace('"', '\\"')


@pass_environment
def check_answers(environment, answers: dict) -> str:
    """Run the pre-generation hook's checks now; exit with its messages on failure.

    The hook file is rendered with this same environment (so its answers go through
    the same `quoted` filter as when cookiecutter runs it) and executed as a module.
    """
    source = PRE_GEN_HOOK.read_text(encoding="utf-8")
    code = environment.from_string(source).render(cookiecutter=answers)
    namespace: dict = {"__name__": "pre_gen_project"}
    exec(compile(code, str(PRE_GEN_HOOK), "exec"), namespace)  # noqa: S102 - our own hook
    errors = namespace["validate"](namespace["ANSWERS"])
    call = cookiecutter_call()
    if not errors and call is not None:
        output_dir, overwrite = call
        target = output_dir / answers["project_slug"]
        if overwrite and target.is_dir():
            errors = [namespace["check_folder"](target)]
        errors = [e for e in errors if e] or output_dir_errors(output_dir)
        if not errors:
            report_write_failures(target, existed=target.exists())
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        raise SystemExit(1)
    return "yes"


def cookiecutter_call() -> tuple[Path, bool] | None:
    """(output_dir, overwrite_if_exists) of the `cookiecutter.main.cookiecutter` call that
    is rendering the answers, or None when something else drives the generation (cruft)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "cookiecutter" and frame.f_globals.get("__name__") == (
            "cookiecutter.main"
        ):
            local = frame.f_locals
            return Path(os.path.abspath(local.get("output_dir", "."))), bool(
                local.get("overwrite_if_exists")
            )
        frame = frame.f_back
    return None


def template_size() -> int:
    return sum(p.stat().st_size for p in TEMPLATE_DIR.rglob("*") if p.is_file())


def output_dir_errors(output_dir: Path) -> list[str]:
    """Can the project be written under output_dir? One line per problem, none when it can.

    Tried for real (a folder made and removed): permissions, read-only file systems and
    quotas all answer the same way, for root too. The room needed is three times the
    template: the files, DVC's cache copy of the raw data, and git's objects.
    """
    existing = output_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    example = "(e.g. 'cookiecutter -o ~/projects ...')"
    try:
        shutil.rmtree(tempfile.mkdtemp(prefix=".cookiecutter-check-", dir=existing))
    except OSError as exc:
        return [
            f"output_dir {str(output_dir)!r} cannot be written ({exc.strerror or exc}): "
            f"choose a folder you can write to {example}"
        ]
    needed = 3 * template_size() + 10 * 2**20
    free = shutil.disk_usage(existing).free
    if free < needed:
        return [
            f"output_dir {str(output_dir)!r} has {free // 2**20} MB free, the project needs "
            f"about {needed // 2**20} MB: free some space or choose another folder {example}"
        ]
    return []


# The project folder the current bake writes, and whether it was there before (set by
# check_answers, read by the excepthook below).
WRITING: dict = {}


def report_write_failures(target: Path, existed: bool) -> None:
    """If writing the project fails (a disk that fills up meanwhile, a folder made read-only),
    cookiecutter stops on a traceback and leaves a half-written project: say it in one line
    instead, and remove the folder if this bake created it. Only an OSError that nothing
    caught and that was raised inside cookiecutter's generate_files reaches this (when the
    process is ending); anything else is shown as before."""
    WRITING.update(target=target, existed=existed)
    if sys.excepthook is not write_failure_hook:
        WRITING["previous"] = sys.excepthook
        sys.excepthook = write_failure_hook


def raised_while_generating(traceback) -> bool:
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "generate_files" and frame.f_globals.get("__name__") == (
            "cookiecutter.generate"
        ):
            return True
        traceback = traceback.tb_next
    return False


def write_failure_hook(kind, error, traceback) -> None:
    if not (issubclass(kind, OSError) and raised_while_generating(traceback)):
        return WRITING["previous"](kind, error, traceback)
    target, existed = WRITING["target"], WRITING["existed"]
    if not existed:
        shutil.rmtree(target, ignore_errors=True)
    cause = error.__cause__ or error  # cookiecutter wraps some in OSError("Unable to ...")
    left = "the folder was there before" if existed else "nothing was left behind"
    print(
        f"error: project_slug {target.name!r}: writing {target} failed "
        f"({getattr(cause, 'strerror', None) or cause}); {left}: free some space or "
        "choose another folder (e.g. 'cookiecutter -o ~/projects ...')",
        file=sys.stderr,
    )


class QuotingExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["quoted"] = quoted
        environment.filters["hydra_quoted"] = hydra_quoted
        environment.filters["json_quoted"] = json_quoted
        environment.filters["one_line"] = one_line
        environment.filters["docstring"] = docstring
        environment.filters["check_answers"] = check_answers
