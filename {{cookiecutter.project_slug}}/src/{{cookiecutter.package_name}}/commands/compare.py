"""The latest tracked runs side by side: `make compare [METRIC=roc_auc]`.

    python -m <package>.commands.compare --metric f1 --limit 20

One row per finished, evaluated run (pipeline runs, sweep jobs, tuning trials): the newest
`--limit` runs, best first by the chosen test-split metric (default F1, or R² for a regression
dataset), with its lift over the baseline (a model must beat "always predict the most frequent
class", or the mean) and its train-test gap (large = overfitting). The first column is the run
id: paste it (or any 6+ characters of its start) into `make reproduce RUN=...` or `make predict`.
"""

import argparse
from collections.abc import Sequence

from .. import tracking
from ..config import load_params
from ..errors import PipelineError, run_cli
from ..metrics import HEADLINE, LOWER_IS_BETTER, METRICS, REGRESSION_METRICS
from ..prepare import task_of


def headline() -> str:
    """What tables rank by unless told: F1, or R² when the active data config is a regression."""
    return HEADLINE[task_of(load_params()["data"])]


def latest_runs(metric: str, limit: int = 20, experiment: str | None = None) -> list:
    """Finished runs evaluated on test `metric` (the runs of its task), newest first."""
    mlflow_client = tracking.client()
    name = experiment or tracking.experiment_name(load_params())
    found = mlflow_client.get_experiment_by_name(name)
    if found is None:
        return []
    return list(
        mlflow_client.search_runs(
            [found.experiment_id],
            # MLflow's filters have no "has metric": a comparison that every value passes
            filter_string=f"attributes.status = 'FINISHED' and metrics.{metric} > -1e300",
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
    )


def ranked(runs: Sequence, metric: str) -> list:
    """Best first by test `metric` (runs without it last). Ties, common on easy data, go to the
    better validation score, then the smaller train-test gap, then the order given (newest
    first from latest_runs: sorted() keeps the order of equal keys)."""

    sign = 1 if metric in LOWER_IS_BETTER else -1  # errors (mae, rmse) rank smallest first

    def key(run):
        m = run.data.metrics
        gap = abs(m.get(f"gap.{metric}", 0))
        return metric not in m, sign * m.get(metric, 0), sign * m.get(f"val.{metric}", 0), gap

    return sorted(runs, key=key)


def number(value, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def task_metrics(metric: str) -> tuple[str, ...]:
    """The test metrics of `metric`'s task (classification or regression)."""
    return REGRESSION_METRICS if metric in REGRESSION_METRICS else METRICS


def cells(runs: Sequence, metric: str) -> tuple[list[str], list[list[str]]]:
    """The header and the body of the table, as text."""
    names = task_metrics(metric)
    header = ["run", "name", "model", *names, f"lift.{metric}", f"gap.{metric}"]
    body = []
    for run in runs:
        m = run.data.metrics
        body.append(
            [run.info.run_id[:8], run.info.run_name or "", run.data.tags.get("model", "?")]
            + [number(m.get(k)) for k in names]
            + [number(m.get(f"lift.{metric}"), True), number(m.get(f"gap.{metric}"), True)]
        )
    return header, body


def format_table(runs: Sequence, metric: str) -> str:
    if not runs:
        return "no finished, evaluated runs yet: run `dvc repro` or `make sweep` first"
    header, body = cells(runs, metric)
    widths = [max(len(c) for c in column) for column in zip(header, *body, strict=True)]
    lines = [header, ["-" * w for w in widths], *body]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    text.append(f"sorted by test {metric}; lift = over the baseline, gap = train - test")
    return "\n".join(text)


def resolve_run_id(prefix: str) -> str:
    """The full id of the one run whose id starts with `prefix` (6 characters or more)."""
    prefix, mlflow_client = prefix.strip().lower(), tracking.client()
    found = []
    if len(prefix) >= 6 and prefix.isalnum():  # (also keeps quotes out of the filter)
        experiments = [e.experiment_id for e in mlflow_client.search_experiments()]
        query = f"attributes.run_id LIKE '{prefix}%'"
        found = mlflow_client.search_runs(experiments, query, max_results=2)
    if len(found) != 1:
        matches = "no run" if not found else "more than one run"
        raise PipelineError(
            f"{matches} with an id starting {prefix!r}: give 6 or more of its first characters, "
            "as `make compare` lists them"
        )
    return found[0].info.run_id


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", choices=METRICS + REGRESSION_METRICS, help="default: f1 or r2")
    parser.add_argument("--limit", type=int, default=20, help="newest runs to show (default 20)")
    args = parser.parse_args(argv)
    metric = args.metric or headline()
    try:
        runs = latest_runs(metric, args.limit)
    except Exception as exc:  # noqa: BLE001 - a broken or unreachable store: one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PipelineError(f"cannot read runs from {tracking.tracking_uri()}: {first}") from None
    runs = ranked(runs, metric)
    print(format_table(runs, metric))
    if runs:
        best = runs[0].info
        print(f"best: {best.run_name}; re-run it with: make reproduce RUN={best.run_id[:8]}")


if __name__ == "__main__":
    run_cli(main)
