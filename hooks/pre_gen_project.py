"""Validate the answers before anything is written.

Each check returns an error message (one line: the field, the bad value, what is
expected and a valid example) or None. The same checks run twice:
- first through local_extensions.check_answers, as soon as the answers are known and
  before cookiecutter creates any folder (cookiecutter.json's `__answers_checked`);
- then here, as cookiecutter's pre-generation hook (a safety net for replays).
Cookiecutter removes the half-made folder when this script exits non-zero, and
never touches a folder that already existed. Run as the hook, this script also
refuses to write into a folder that holds anything (`cookiecutter -f` over a project).
"""

import fnmatch
import keyword
import re
import sys
import unicodedata
from email.headerregistry import Address
from pathlib import Path

# Rendered by cookiecutter through the `quoted` filter: free text cannot break out.
ANSWERS = {
    "project_name": {{ cookiecutter.project_name|quoted }},
    "project_slug": {{ cookiecutter.project_slug|quoted }},
    "package_name": {{ cookiecutter.package_name|quoted }},
    "author_name": {{ cookiecutter.author_name|quoted }},
    "author_email": {{ cookiecutter.author_email|quoted }},
    "description": {{ cookiecutter.description|quoted }},
    "python_version": {{ cookiecutter.python_version|quoted }},
}

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# Folders beside the package (tests/, data/, ...): a package of the same name would be shadowed.
FOLDERS = {"test", "tests", "conf", "data", "docs", "models", "reports", "notebooks", "src"}
# Names the generated .gitignore ignores wherever they are (tests/test_answers.py keeps this in
# step with it): a package folder of such a name would never reach git.
IGNORED = (
    *("__pycache__", "*.egg-info", "mlruns", "mlartifacts", "outputs", "multirun", "dvc_plots"),
)
# Names Windows reserves for devices: a folder of that name cannot be created or cloned there.
DEVICES = {f"{kind}{n}" for kind in ("com", "lpt") for n in range(10)}
WINDOWS_DEVICES = {"con", "prn", "aux", "nul"} | DEVICES
# Names (project, folder, package) are typed on every import line and head the package
# docstring: 60 characters keep those lines within ruff's 100 (tests/test_generation.py).
MAX_NAME = 60
# Standard library modules of some supported Python but not of every one (tomllib came in
# 3.11; 3.12 and 3.13 removed these, PEP 594): the project's Python may not be the one
# running cookiecutter, whose sys.stdlib_module_names this completes.
STDLIB_OF_SOME_VERSIONS = {"tomllib", "asynchat", "asyncore", "distutils", "imp", "smtpd"}
STDLIB_OF_SOME_VERSIONS |= {"aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr"}
STDLIB_OF_SOME_VERSIONS |= {"lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev"}
STDLIB_OF_SOME_VERSIONS |= {"pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib"}
# Line breaks and tabs in the name and description are folded into spaces where they are used.
FOLDED = "\n\r\t"

# BEGIN dependency modules (scripts/dependency_modules.py writes this block)
DEPENDENCY_MODULES = frozenset(
    """
    _cffi_backend _distutils_hack _pytest _ruamel_yaml _yaml aiohappyeyeballs aiohttp
    aiohttp_retry aiosignal alembic amqp annotated_doc annotated_types antlr4 anyio appdirs
    appnope arrow asttokens asyncssh attr attrs billiard binaryornot blinker cachetools celery
    certifi cffi cfgv charset_normalizer click click_didyoumean click_plugins click_repl
    cloudpickle colorama colorlog comm configobj contourpy cookiecutter cruft cryptography
    cycler databricks dateutil debugpy dictdiffer diskcache distlib distro docker dotenv dpath
    dulwich dvc dvc_data dvc_http dvc_objects dvc_render dvc_studio_client dvc_task entrypoints
    executing fastapi fastjsonschema filelock flask flask_cors flatten_dict flufl fonttools
    frozenlist fsspec functorch funcy git gitdb google grandalf graphene graphql graphql_relay
    gto gunicorn h11 huey hydra hydra_plugins identify idna importlib_metadata iniconfig
    ipykernel ipykernel_launcher ipython ipython_pygments_lexers isympy iterative_telemetry
    itsdangerous jedi jinja2 joblib jsonschema jsonschema_specifications jupyter jupyter_client
    jupyter_core jupyterlab_jupytext jupytext jupytext_config kiwisolver kombu mako markdown_it
    markupsafe matplotlib matplotlib_inline mdit_py_plugins mdurl mlflow mpl_toolkits mpmath
    multidict narwhals nbclient nbformat nbstripout nest_asyncio2 networkx nodeenv numpy nvidia
    omegaconf opentelemetry optuna orjson packaging pandas parso pathspec pexpect pil
    platformdirs pluggy pre_commit pre_commit_hooks prettytable prompt_toolkit propcache psutil
    ptyprocess public pure_eval py pyarrow pyasn1 pyasn1_modules pycparser pydantic
    pydantic_core pydantic_settings pydevd_plugins pydot pygit2 pygments pygtrie pylab pyparsing
    pytest python_discovery pythoncom pythonwin pywin32_system32 pywintypes referencing requests
    rich rpds ruamel ruff scipy scmrepo semver setuptools shellingham shortuuid shtab six
    sklearn skops slugify smmap sqlalchemy sqlparse sqltrie stack_data starlette sympy tabulate
    text_unidecode threadpoolctl tomlkit torch torchgen tornado tqdm traitlets triton typer
    typing_extensions typing_inspection tzdata tzlocal urllib3 uvicorn validate vine virtualenv
    voluptuous wcwidth werkzeug win32 win32api win32com win32comext win32con winerror yaml yarl
    zc zipp zmq
    """.split()  # noqa: SIM905 - a block of names, rewritten by a script
)
# END dependency modules


def control_character(value: str, allowed: str = "") -> str | None:
    """The first control character (NUL, ESC, DEL, ...) in `value`, named, or None."""
    for char in value:
        if unicodedata.category(char) == "Cc" and char not in allowed:
            return f"{char!r} (U+{ord(char):04X})"
    return None


def too_long(field: str, value: str, example: str) -> str | None:
    if len(value) <= MAX_NAME:
        return None
    rest = " (put the rest in the description)" if field == "project_name" else ""
    limit = f"keep it to {MAX_NAME}{rest}"
    return f"{field} {value!r} is {len(value)} characters long: {limit} {example}"


def check_project_name(value: str) -> str | None:
    example = "(e.g. 'Penguin Species Classifier')"
    if not value.strip():
        return f"project_name {value!r} is blank: type a name {example}"
    if char := control_character(value, FOLDED):
        return f"project_name {value!r} holds the control character {char}: remove it {example}"
    return too_long("project_name", value, example)


def check_project_slug(value: str) -> str | None:
    example = "(e.g. 'penguin-classifier')"
    if not re.fullmatch(r"[a-z]([a-z0-9_-]*[a-z0-9])?", value):
        return (
            f"project_slug {value!r} is not a valid folder and distribution name: use lower "
            f"case letters, digits, '-' and '_', starting with a letter and ending with a "
            f"letter or digit {example}"
        )
    if value in WINDOWS_DEVICES:
        return f"project_slug {value!r} is a device name on Windows: pick another {example}"
    return too_long("project_slug", value, example)


def package_name_clash(value: str) -> str | None:
    """Why a package of this name would break the project, or None."""
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword"
    if value in sys.stdlib_module_names or value in STDLIB_OF_SOME_VERSIONS:
        return "would shadow the standard library's module of the same name"
    if value in DEPENDENCY_MODULES:
        return "would shadow the module of the same name that the project's dependencies install"
    if value in FOLDERS:
        return f"would shadow the project's own {value}/ folder"
    if pattern := next((p for p in IGNORED if fnmatch.fnmatchcase(value, p)), None):
        return f"matches {pattern!r} in the project's .gitignore, so git would never hold its code"
    if value in WINDOWS_DEVICES:
        return "is a device name on Windows"
    return None


def check_package_name(value: str) -> str | None:
    example = "(e.g. 'penguin_classifier')"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
        return (
            f"package_name {value!r} is not a valid import name: use lower case letters, "
            f"digits and '_', not starting with a digit {example}"
        )
    if clash := package_name_clash(value):
        return f"package_name {value!r} {clash}: pick another name {example}"
    return too_long("package_name", value, example)


def check_author_name(value: str) -> str | None:
    example = "(e.g. 'Ada Intern')"
    if char := control_character(value):
        return f"author_name {value!r} holds the control character {char}: remove it {example}"
    try:  # what the build backend does with it: a core metadata `Author-email` header
        str(Address(display_name=value, addr_spec="ada@example.com"))
    except Exception as exc:  # noqa: BLE001 - any refusal is reported in one line
        return f"author_name {value!r} is not valid in package metadata ({exc}) {example}"
    return None


def check_author_email(value: str) -> str | None:
    expected = f"author_email {value!r} is not an e-mail address that package metadata accepts"
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", value):
        return f"{expected} (e.g. 'ada@example.com')"
    try:  # the build backend's own check (core metadata, RFC 5322): no `,`, `>`, non-ASCII name
        str(Address(addr_spec=value))
    except Exception as exc:  # noqa: BLE001 - any refusal is reported in one line
        return f"{expected} ({exc}) (e.g. 'ada@example.com')"
    return None


def check_description(value: str) -> str | None:
    if char := control_character(value, FOLDED):
        return (
            f"description {value!r} holds the control character {char}: remove it "
            "(e.g. 'Predict penguin species from field measurements.')"
        )
    return None


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
    "author_name": check_author_name,
    "author_email": check_author_email,
    "description": check_description,
    "python_version": check_python_version,
}


def validate(answers: dict) -> list[str]:
    """Every problem with the answers, one line each; empty when all are fine."""
    return [msg for field, check in CHECKS.items() if (msg := check(answers[field]))]


def check_folder(folder: Path) -> str | None:
    """The project folder must be new or empty (a clone of an empty repository may hold .git).

    `cookiecutter -f` over a project would overwrite its files, and the post-generation
    hook would start git and DVC over its history, data and settings: refuse instead.
    """
    present = sorted(p.name for p in folder.iterdir() if p.name != ".git")
    if not present:
        return None
    shown = ", ".join(present[:3]) + (", ..." if len(present) > 3 else "")
    return (
        f"project_slug {folder.name!r}: the folder {folder} already holds files ({shown}), "
        "which generating the project would overwrite: bake into a new folder "
        "(e.g. 'cookiecutter -o elsewhere ...'); to bring template changes into a project, "
        "use `cruft update`"
    )


if __name__ == "__main__":
    errors = validate(ANSWERS)
    if not errors and (folder_error := check_folder(Path.cwd())):
        errors.append(folder_error)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)
