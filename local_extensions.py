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
"""

import json
import re
import sys
from pathlib import Path

from jinja2 import pass_environment
from jinja2.ext import Extension

PRE_GEN_HOOK = Path(__file__).resolve().parent / "hooks" / "pre_gen_project.py"


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
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        raise SystemExit(1)
    return "yes"


class QuotingExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["quoted"] = quoted
        environment.filters["hydra_quoted"] = hydra_quoted
        environment.filters["json_quoted"] = json_quoted
        environment.filters["one_line"] = one_line
        environment.filters["docstring"] = docstring
        environment.filters["check_answers"] = check_answers
