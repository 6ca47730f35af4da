"""Fast tier: LICENSE holds the chosen licence's full, unaltered text with year and author."""

from __future__ import annotations

import hashlib
import tomllib
from datetime import UTC, datetime

import pytest

import bakery

# Quotes, a backslash, unicode and a run of spaces (a line break is refused: package metadata
# cannot hold one, tests/test_answers.py).
AUTHOR = 'Zoë "Q" O\\Brien  & co'
AUTHOR_LINE = 'Zoë "Q" O\\Brien & co'  # what `one_line` makes of it
# sha256 of each text with its copyright line put back to the canonical placeholders
# (choosealicense.com / SPDX texts): a single changed character fails the test.
CANONICAL = {
    "MIT": ("MIT License", "Copyright (c) {year} {author}", "Copyright (c) [year] [fullname]"),
    "BSD-3-Clause": (
        "BSD 3-Clause License",
        "Copyright (c) {year}, {author}",
        "Copyright (c) [year], [fullname]",
    ),
    "Apache-2.0": (
        "Apache License",
        "   Copyright {year} {author}",
        "   Copyright [yyyy] [name of copyright owner]",
    ),
}
SHA256 = {
    "MIT": "002c2696d92b5c8cf956c11072baa58eaf9f6ade995c031ea635c6a1ee342ad1",
    "BSD-3-Clause": "f24d1328dbfffe7bf66aa877957db75e60629358357d8c366ccab616fef487ab",
    "Apache-2.0": "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
}


@pytest.mark.parametrize("license_", sorted(CANONICAL))
def test_license_text_is_complete_with_year_and_author(tmp_path, license_):
    years = {str(datetime.now(UTC).year)}
    answers = {"license": license_, "author_name": "{{ " + repr(AUTHOR) + " }}"}
    project = bakery.bake(tmp_path, answers, accept_hooks=False)
    years.add(str(datetime.now(UTC).year))
    text = (project / "LICENSE").read_text(encoding="utf-8")
    title, copyright_line, placeholder = CANONICAL[license_]
    assert text.splitlines()[0].strip() == title
    lines = [copyright_line.format(year=y, author=AUTHOR_LINE) for y in years]
    found = [line for line in lines if line in text.splitlines()]
    assert found, f"no line like {lines[0]!r} in LICENSE"
    canonical = text.replace(found[0], placeholder)
    assert hashlib.sha256(canonical.encode()).hexdigest() == SHA256[license_]
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["license"] == license_


def test_proprietary_has_no_license_file(tmp_path):
    project = bakery.bake(tmp_path, {"license": "Proprietary"})
    assert not (project / "LICENSE").exists()
    assert "license" not in tomllib.loads((project / "pyproject.toml").read_text())["project"]
