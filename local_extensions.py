"""Jinja filters that make free-text answers safe to paste into generated files.

Every answer a user types (names, descriptions) is rendered through one of these,
never raw, so quotes, backslashes, unicode or `{{ }}` cannot break a TOML, YAML,
JSON or Python file, nor inject code into the hooks.
"""

import json

from jinja2.ext import Extension


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


def json_quoted(text: object) -> str:
    """A JSON string literal (JSON has no \\U escape, so it needs its own)."""
    return json.dumps(str(text), ensure_ascii=False)


def one_line(text: object) -> str:
    """Free text for Markdown and comments: line breaks folded into spaces."""
    return " ".join(str(text).split())


class QuotingExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["quoted"] = quoted
        environment.filters["json_quoted"] = json_quoted
        environment.filters["one_line"] = one_line
