"""Matplotlib set up once for files, not screens (no display on servers or in CI)."""

from pathlib import Path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.bbox": "tight",
            "axes.grid": True,
            "grid.alpha": 0.3,
            "svg.hashsalt": "fixed",
        }
    )
    return plt


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamps in the file, so the same data gives the same bytes.
    fig.savefig(path, metadata={"Software": None})
    fig.clf()
    return path
