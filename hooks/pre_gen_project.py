"""Validate the answers before anything is written.

Each check returns an error message (one line: the field, the bad value, what is
expected and a valid example) or None. Cookiecutter removes the half-made folder
when this script exits non-zero, and never touches a folder that already existed.
"""

import keyword
import re
import sys

# Rendered by cookiecutter through the `quoted` filter: free text cannot break out.
ANSWERS = {
    "project_slug": {{ cookiecutter.project_slug|quoted }},
    "package_name": {{ cookiecutter.package_name|quoted }},
    "author_email": {{ cookiecutter.author_email|quoted }},
    "python_version": {{ cookiecutter.python_version|quoted }},
}

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# Import names the project's own code and tests rely on: a package with one of
# these names would shadow it and break `import`.
SHADOWED = {"test", "tests", "torch", "mlflow", "dvc", "hydra", "sklearn", "numpy",
            "pandas", "scipy", "matplotlib", "optuna", "omegaconf", "yaml", "pytest",
            "conf", "data", "docs", "models", "reports", "notebooks", "src"}


def check_project_slug(value: str) -> str | None:
    if re.fullmatch(r"[a-z][a-z0-9_-]*", value):
        return None
    return (f"project_slug {value!r} is not a valid folder name: use lower case letters, "
            "digits, '-' and '_', starting with a letter (e.g. 'penguin-classifier')")


def check_package_name(value: str) -> str | None:
    example = "(e.g. 'penguin_classifier')"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
        return (f"package_name {value!r} is not a valid import name: use lower case letters, "
                f"digits and '_', not starting with a digit {example}")
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return f"package_name {value!r} is a Python keyword: pick another name {example}"
    if value in SHADOWED or value in sys.stdlib_module_names:
        return (f"package_name {value!r} would shadow the module of the same name: "
                f"pick another name {example}")
    return None


def check_author_email(value: str) -> str | None:
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", value):
        return None
    return f"author_email {value!r} is not an e-mail address (e.g. 'ada@example.com')"


def check_python_version(value: str) -> str | None:
    if value in SUPPORTED_PYTHONS:
        return None
    return (f"python_version {value!r} is not supported: choose one of "
            f"{', '.join(SUPPORTED_PYTHONS)} (e.g. '3.11')")


def validate(answers: dict) -> list[str]:
    checks = {"project_slug": check_project_slug, "package_name": check_package_name,
              "author_email": check_author_email, "python_version": check_python_version}
    return [msg for field, check in checks.items() if (msg := check(answers[field]))]


if __name__ == "__main__":
    errors = validate(ANSWERS)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)
