"""Validate the answers before anything is written.

Each check returns an error message (one line: the field, the bad value, what is
expected and a valid example) or None. The same checks run twice:
- first through local_extensions.check_answers, as soon as the answers are known and
  before cookiecutter creates any folder (cookiecutter.json's `__answers_checked`);
- then here, as cookiecutter's pre-generation hook (a safety net for replays).
Cookiecutter removes the half-made folder when this script exits non-zero, and
never touches a folder that already existed.
"""

import keyword
import re
import sys

# Rendered by cookiecutter through the `quoted` filter: free text cannot break out.
ANSWERS = {
    "project_name": {{ cookiecutter.project_name|quoted }},
    "project_slug": {{ cookiecutter.project_slug|quoted }},
    "package_name": {{ cookiecutter.package_name|quoted }},
    "author_email": {{ cookiecutter.author_email|quoted }},
    "python_version": {{ cookiecutter.python_version|quoted }},
}

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# Import names a package must not take: the project imports these libraries, and its
# own folders (tests/, data/, ...) sit beside the package. Taking one would shadow it.
LIBRARIES = {"torch", "lightning", "mlflow", "dvc", "hydra", "omegaconf", "sklearn", "joblib"}
LIBRARIES |= {"numpy", "pandas", "scipy", "matplotlib", "optuna", "yaml", "pytest"}
FOLDERS = {"test", "tests", "conf", "data", "docs", "models", "reports", "notebooks", "src"}
SHADOWED = LIBRARIES | FOLDERS

MAX_NAME = 80  # the name heads the package docstring, which must fit ruff's line length


def check_project_name(value: str) -> str | None:
    example = "(e.g. 'Penguin Species Classifier')"
    if not value.strip():
        return f"project_name {value!r} is blank: type a name {example}"
    if len(value) > MAX_NAME:
        return (
            f"project_name {value!r} is {len(value)} characters long: "
            f"keep it to {MAX_NAME} and put the rest in the description {example}"
        )
    return None


def check_project_slug(value: str) -> str | None:
    if re.fullmatch(r"[a-z][a-z0-9_-]*", value):
        return None
    return (
        f"project_slug {value!r} is not a valid folder name: use lower case letters, "
        "digits, '-' and '_', starting with a letter (e.g. 'penguin-classifier')"
    )


def check_package_name(value: str) -> str | None:
    example = "(e.g. 'penguin_classifier')"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
        return (
            f"package_name {value!r} is not a valid import name: use lower case letters, "
            f"digits and '_', not starting with a digit {example}"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return f"package_name {value!r} is a Python keyword: pick another name {example}"
    if value in SHADOWED or value in sys.stdlib_module_names:
        return (
            f"package_name {value!r} would shadow the module of the same name: "
            f"pick another name {example}"
        )
    return None


def check_author_email(value: str) -> str | None:
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", value):
        return None
    return f"author_email {value!r} is not an e-mail address (e.g. 'ada@example.com')"


def check_python_version(value: str) -> str | None:
    if value in SUPPORTED_PYTHONS:
        return None
    return (
        f"python_version {value!r} is not supported: choose one of "
        f"{', '.join(SUPPORTED_PYTHONS)} (e.g. '3.11')"
    )


CHECKS = {
    "project_name": check_project_name,
    "project_slug": check_project_slug,
    "package_name": check_package_name,
    "author_email": check_author_email,
    "python_version": check_python_version,
}


def validate(answers: dict) -> list[str]:
    """Every problem with the answers, one line each; empty when all are fine."""
    return [msg for field, check in CHECKS.items() if (msg := check(answers[field]))]


if __name__ == "__main__":
    errors = validate(ANSWERS)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)
