"""Stage `eda`: exploratory plots and a short summary of the TRAINING split.

Only the training split is explored: looking at validation or test data while
choosing features or models leaks them into your decisions.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config, Paths, load_params
from .errors import run_cli
from .plots import pyplot, save, wrap
from .prepare import task_of

MAX_ROWS = 100_000  # plots and summaries on a seeded sample above this: seconds at any size
MAX_PLOTTED = 30  # numeric columns drawn (the first ones): more would be too small to read


def target_plot(df: pd.DataFrame, target: str, out: Path, plt, regression: bool) -> Path:
    """How the target is spread: rows per class (the balance), or a histogram of the number."""
    if regression:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(df[target].dropna(), bins=30, color="tab:blue", alpha=0.8)
        ax.set(title=f"Target ({target})", xlabel=target, ylabel="rows")
    else:  # horizontal bars: long class names stay readable
        counts = df[target].value_counts().sort_index(ascending=False)
        fig, ax = plt.subplots(figsize=(6, 1.2 + 0.45 * len(counts)))
        ax.barh(wrap(counts.index, 24), counts.to_numpy(), color="tab:blue")
        ax.set(title=f"Class balance ({target})", xlabel="rows")
    return save(fig, out / "target.png")


def panels(columns: list[str], draw, out: Path, plt) -> Path:
    """One small plot per column, three to a row; `draw(ax, column)` fills each."""
    columns = columns[:MAX_PLOTTED]
    rows = -(-len(columns) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(12, 3.5 * rows), squeeze=False)
    for ax, col in zip(axes.flat, columns, strict=False):
        draw(ax, col)
    for ax in axes.flat[len(columns) :]:
        ax.set_visible(False)
    return save(fig, out)


def histograms(df: pd.DataFrame, numeric: list[str], out: Path, plt) -> Path:
    def draw(ax, col):
        ax.hist(df[col].dropna(), bins=20, color="tab:blue", alpha=0.8)
        ax.set_title(col)

    return panels(numeric, draw, out / "histograms.png", plt)


def box_plots(df: pd.DataFrame, numeric: list[str], target: str, out: Path, plt) -> Path:
    classes = sorted(df[target].unique())

    def draw(ax, col):
        groups = [df.loc[df[target] == c, col].dropna() for c in classes]
        ax.boxplot(groups, tick_labels=wrap(classes))
        ax.tick_params(axis="x", labelrotation=30)  # long class names stay readable
        ax.set_title(f"{col} by {target}")

    return panels(numeric, draw, out / "box_plots.png", plt)


def correlation_heatmap(df: pd.DataFrame, numeric: list[str], out: Path, plt) -> Path:
    shown = (
        f": the first {MAX_PLOTTED} of {len(numeric)} columns" if len(numeric) > MAX_PLOTTED else ""
    )
    numeric = numeric[:MAX_PLOTTED]
    corr = df[numeric].corr()
    side = max(4.0, 0.5 * len(numeric)) + 0.07 * max(len(c) for c in numeric)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(numeric)), numeric, rotation=45, ha="right")
    ax.set_yticks(range(len(numeric)), numeric)
    ax.grid(False)
    if len(numeric) <= 12:  # the numbers too, while they fit in their cells
        for (i, j), value in np.ndenumerate(corr.to_numpy()):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax)
    ax.set_title(f"Correlation (Pearson){shown}")
    return save(fig, out / "correlation.png")


def summary_markdown(df: pd.DataFrame, data_cfg: Config) -> str:
    target, numeric = data_cfg["target"], list(data_cfg["numeric"])
    balance = df[target].value_counts().sort_index()  # classes, or the target's quartiles
    corr = df[numeric].corr().abs().where(lambda m: m < 1).stack().sort_values(ascending=False)
    top = corr.iloc[::2].head(3)  # each pair appears twice in the stacked matrix
    lines = [
        "# Exploratory data analysis (training split)",
        "",
        f"{len(df)} rows, {len(numeric)} numeric and {len(data_cfg['categorical'])} categorical "
        f"features, target `{target}`.",
        "",
        "## Target",
        "",
        "| class (or quartile of the target) | rows | share |",
        "|---|---|---|",
        *[f"| {c} | {n} | {n / len(df):.1%} |" for c, n in balance.items()],
        "",
        "## Missing values",
        "",
        "| column | missing |",
        "|---|---|",
        *[f"| {c} | {n} |" for c, n in df.isna().sum().items() if n],
        "",
        "## Strongest correlations",
        "",
        *[f"- `{a}` and `{b}`: {v:.2f}" for (a, b), v in top.items()],
        "",
        "## Numeric summary",
        "",
        "```",
        df[numeric].describe().round(2).to_string(),
        "```",
        "",
        "Plots: `target.png`, `histograms.png`, `box_plots.png`, `correlation.png`"
        + (f" (the first {MAX_PLOTTED} numeric columns)." if len(numeric) > MAX_PLOTTED else "."),
        "",
    ]
    return "\n".join(lines)


def eda(data_cfg: Config, train_split: Path, out: Path, seed: int = 0) -> list[Path]:
    plt = pyplot()
    df = pd.read_parquet(train_split)
    if len(df) > MAX_ROWS:
        df = df.sample(MAX_ROWS, random_state=seed)
    numeric, target = list(data_cfg["numeric"]), data_cfg["target"]
    regression = task_of(data_cfg) == "regression"
    # Box plots and the summary group rows by class, or by quartile of a numeric target.
    grouped = df.assign(**{target: pd.qcut(df[target], 4).astype(str)}) if regression else df
    paths = [
        target_plot(df, target, out, plt, regression),
        histograms(df, numeric, out, plt),
        box_plots(grouped, numeric, target, out, plt),
        correlation_heatmap(df, numeric, out, plt),
    ]
    (out / "summary.md").write_text(summary_markdown(grouped, data_cfg), encoding="utf-8")
    return paths + [out / "summary.md"]


def main() -> None:
    cfg = load_params()
    paths = eda(cfg["data"], Paths().split("train"), Paths().reports / "eda", cfg["seed"])
    print(f"eda: wrote {len(paths)} files to reports/eda/")


if __name__ == "__main__":
    run_cli(main)
