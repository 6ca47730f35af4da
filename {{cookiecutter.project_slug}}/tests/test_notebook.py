"""The notebooks: paired with their .py twins, committed without outputs, and they run."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RAW = ROOT / "data" / "raw" / "penguins-raw.csv"


def test_there_is_an_eda_notebook():
    assert ROOT / "notebooks" / "eda.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_its_py_twin_hold_the_same_cells(notebook):
    import jupytext

    twin = notebook.with_suffix(".py")
    assert twin.exists(), f"{twin.name} is missing: run `jupytext --sync {notebook}`"
    cells = [(c.cell_type, c.source) for c in jupytext.read(notebook).cells]
    twin_cells = [(c.cell_type, c.source) for c in jupytext.read(twin).cells]
    assert cells == twin_cells, (
        f"{notebook.name} and {twin.name} differ: run `jupytext --sync notebooks/{notebook.name}`"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    with_outputs = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])
    ]
    assert not with_outputs, f"cells {with_outputs} keep outputs: run `nbstripout {notebook}`"


@pytest.fixture
def kernel_name(tmp_path, monkeypatch) -> str:
    """A Jupyter kernel that runs THIS interpreter (the project's .venv).

    Its spec lives in a private folder put first on JUPYTER_PATH, so a user-wide `python3`
    kernel that points at another Python can never be picked instead.
    """
    from ipykernel.kernelspec import install

    install(prefix=str(tmp_path), kernel_name="project-venv", display_name="project .venv")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    return "project-venv"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_headless_on_the_bundled_data(notebook, kernel_name):
    if not RAW.exists():
        pytest.skip(f"{RAW.relative_to(ROOT)} is missing: run `dvc pull`")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=600,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    if notebook.name == "eda.ipynb":
        images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 4, "the four EDA plots are shown"
