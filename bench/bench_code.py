"""Size and shape of the generated package's source: now vs before the redesign (issue 11).

    python bench/bench_code.py --json OUT.json [--before main]

Reads the template's package folder,
    {{cookiecutter.project_slug}}/src/{{cookiecutter.package_name}}/
twice in the same way: as it is in the working tree (files git tracks plus new ones it does not
ignore, so caches and scratch files are left out), and as it is at the git revision --before
(default `main`, the branch the redesign replaces; `git ls-tree -r` + `git show REV:PATH`).
The generated project's src/ is exactly this folder, rendered; rendering replaces
`{{ cookiecutter.* }}` expressions within a line, so line counts are the same, and for parsing
imports each expression is replaced by the package name. Test files are not in src/ and not counted.

src_lines        lines of all .py files under src/ (goal <= 3000)
tracking_lines   lines of the tracking code: tracking.py, or all of a tracking/ package
                 (goal <= 300)
max_file_lines   lines of the longest .py file (goal <= 300)
import_cycles    import circles among the package's own modules: groups of modules that import
                 each other directly or through others (strongly connected components of the
                 import graph, imports inside functions included: they close a circle just the
                 same when called; goal 0)
...and each of these with the suffix _before, from --before, plus
src_lines_vs_before = src_lines / src_lines_before.
When --before cannot be resolved (a shallow clone without that branch) only the current
numbers are written. After the redesign is merged, give the last commit before it instead.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
from pathlib import Path, PurePosixPath

BENCH_PYTHON = "template"  # bench/run.py: the standard library and git are all this needs

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = PurePosixPath("{{cookiecutter.project_slug}}/src/{{cookiecutter.package_name}}")
PACKAGE = "pkg"  # the package's import name in the graph (the template's is a Jinja expression)
JINJA = re.compile(r"\{\{.*?\}\}")
GOALS = {"src_lines": 3000, "tracking_lines": 300, "max_file_lines": 300, "import_cycles": 0}


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LookupError(result.stderr.strip())
    return result.stdout


def current_files() -> dict[PurePosixPath, str]:
    """{path inside the package: text} of the working tree's .py files (what a bake gets)."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "--", str(PACKAGE_DIR))
    files = {}
    for name in listed.splitlines():
        path = ROOT / name
        if name.endswith(".py") and path.is_file():  # a deleted file is still in the index
            files[PurePosixPath(name).relative_to(PACKAGE_DIR)] = path.read_text(encoding="utf-8")
    return files


def files_at(revision: str) -> dict[PurePosixPath, str]:
    listed = git("ls-tree", "-r", "--name-only", revision, "--", str(PACKAGE_DIR))
    return {
        PurePosixPath(name).relative_to(PACKAGE_DIR): git("show", f"{revision}:{name}")
        for name in listed.splitlines()
        if name.endswith(".py")
    }


def lines(text: str) -> int:
    return len(text.splitlines())


def module_name(path: PurePosixPath) -> str:
    parts = [PACKAGE, *path.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: PurePosixPath, text: str, modules: set[str]) -> set[str]:
    """The package's own modules that this file imports (absolute or relative, anywhere)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(JINJA.sub(PACKAGE, text), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from .x import y`: y is a module when there is one by that name, else a name in x.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in modules and t != here)
    return found


def cycles(files: dict[PurePosixPath, str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    modules = {module_name(p) for p in files}
    graph = {module_name(p): sorted(imports(p, text, modules)) for p, text in files.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def measure(files: dict[PurePosixPath, str], suffix: str = "") -> dict[str, int]:
    counts = {path: lines(text) for path, text in files.items()}
    tracking = sum(n for p, n in counts.items() if p.parts[0] in ("tracking.py", "tracking"))
    circles = cycles(files)
    longest = max(counts, key=counts.get)
    label = suffix.strip("_") or "now"
    print(
        f"{label}: {len(files)} files, {sum(counts.values())} lines, longest {longest} "
        f"({counts[longest]}), tracking {tracking}, import circles "
        f"{['{' + ', '.join(c) + '}' for c in circles] or 'none'}"
    )
    return {
        f"src_lines{suffix}": sum(counts.values()),
        f"tracking_lines{suffix}": tracking,
        f"max_file_lines{suffix}": counts[longest],
        f"import_cycles{suffix}": len(circles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--before", default="main", help="git revision to compare with")
    parser.add_argument("--project", type=Path, help="unused: this bench reads the template")
    args = parser.parse_args()

    results = measure(current_files())
    try:
        commit = git("rev-parse", "--short", f"{args.before}^{{commit}}").strip()
        before = files_at(args.before)
    except LookupError as exc:
        print(f"code: no before numbers, {args.before!r} is not a revision here ({exc})")
    else:
        print(f"before = {args.before} ({commit})")
        results.update(measure(before, "_before"))
        ratio = results["src_lines"] / results["src_lines_before"]
        results["src_lines_vs_before"] = round(ratio, 3)
    for key, goal in GOALS.items():
        verdict = "ok" if results[key] <= goal else "ABOVE GOAL"
        print(f"{key} = {results[key]} (goal <= {goal}): {verdict}")
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
