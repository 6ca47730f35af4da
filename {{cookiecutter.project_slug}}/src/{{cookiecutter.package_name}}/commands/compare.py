"""The latest tracked runs side by side, best first: `make compare [METRIC=roc_auc]`.

The columns and the ranking are described in docs/tracking.md. The first column is the run id
that `make reproduce RUN=...` and `make predict RUN=...` take (6 or more of its characters).
"""

import argparse
from collections.abc import Sequence

from .. import tracking
from ..config import CONF_DIR, Config, compose, load_params
from ..errors import PipelineError, run_cli
from ..metrics import HEADLINE, LOWER_IS_BETTER, METRICS, REGRESSION_METRICS
from ..prepare import task_of


def data_config(data: str | None = None) -> Config:
    """The data config named `data` (a file of conf/data/), else the active one."""
    params = load_params()
    if data in (None, params["data"]["name"]):
        return params["data"]
    if not (CONF_DIR / "data" / f"{data}.yaml").exists():
        known = ", ".join(sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml")))
        raise PipelineError(f"DATA={data}: there is no conf/data/{data}.yaml (known: {known})")
    return compose([f"data={data}"])["data"]


def headline(data: str | None = None) -> str:
    """What tables rank by unless told: F1, or R² when the data config is a regression."""
    return HEADLINE[task_of(data_config(data))]


def latest_runs(
    metric: str, limit: int = 20, experiment: str | None = None, data: str | None = None
) -> list:
    """Finished runs of one dataset's experiment evaluated on test `metric`, newest first."""
    client = tracking.client()
    name = experiment or tracking.experiment_name(load_params(), data)
    if (found := client.get_experiment_by_name(name)) is None:
        return []
    # MLflow's filters have no "has metric": a comparison that every value passes
    query = f"attributes.status = 'FINISHED' and metrics.{metric} > -1e300"
    newest = ["attributes.start_time DESC"]
    return client.search_runs([found.experiment_id], query, order_by=newest, max_results=limit)


def ranked(runs: Sequence, metric: str) -> list:
    """Best first by test `metric`, runs without it last; ties (common on easy data) go to the
    better validation score, the smaller train-test gap, then the order given (newest first)."""
    sign = 1 if metric in LOWER_IS_BETTER else -1  # errors (mae, rmse) rank smallest first

    def key(run):
        m = run.data.metrics
        gap = abs(m.get(f"gap.{metric}", 0))
        return metric not in m, sign * m.get(metric, 0), sign * m.get(f"val.{metric}", 0), gap

    return sorted(runs, key=key)


def number(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign}.3f}"


def task_metrics(metric: str) -> tuple[str, ...]:  # all the metrics of its task
    return REGRESSION_METRICS if metric in REGRESSION_METRICS else METRICS


def markdown_table(rows: Sequence[Sequence]) -> str:
    """The rows, header first, as a Markdown table with aligned columns: it reads as well in a
    terminal as in docs/experiment_log.md."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
    cells.insert(1, ["-" * w for w in widths])
    lines = (" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(f"| {line} |" for line in lines)


def format_table(runs: Sequence, metric: str) -> str:
    """One row per run, in the order given: its test metrics, lift over the baseline and gap."""
    if not runs:
        return "no finished, evaluated runs yet: run `dvc repro` or `make sweep` first"
    names = task_metrics(metric)
    rows = [["run", "name", "model", *names, f"lift.{metric}", f"gap.{metric}"]]
    for run in runs:
        m = run.data.metrics
        rows.append(
            [run.info.run_id[:8], run.info.run_name or "", run.data.tags.get("model", "?")]
            + [number(m.get(k)) for k in names]
            + [number(m.get(f"lift.{metric}"), "+"), number(m.get(f"gap.{metric}"), "+")]
        )
    legend = f"Sorted by test {metric}; lift = over the baseline, gap = train - test."
    return f"{markdown_table(rows)}\n\n{legend}"


def ranking(runs: Sequence, metric: str) -> str:
    """The table of runs ranked best first, and how to re-run the best one."""
    if not runs:
        return format_table(runs, metric)
    best = runs[0].info
    rerun = f"best: {best.run_name}; re-run it with: make reproduce RUN={best.run_id[:8]}"
    return f"{format_table(runs, metric)}\n{rerun}"


def resolve_run_id(prefix: str) -> str:
    """The full id of the one run whose id starts with `prefix` (6 characters or more)."""
    prefix, mlflow_client = prefix.strip().lower(), tracking.client()
    found = []
    if len(prefix) >= 6 and prefix.isalnum():  # (also keeps quotes out of the filter)
        experiments = [e.experiment_id for e in mlflow_client.search_experiments()]
        query = f"attributes.run_id LIKE '{prefix}%'"
        found = mlflow_client.search_runs(experiments, query, max_results=2)
    if len(found) != 1:
        raise PipelineError(
            f"{'more than one run' if found else 'no run'} with an id starting {prefix!r}: "
            "give 6 or more of its first characters, as `make compare` lists them"
        )
    return found[0].info.run_id


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", choices=METRICS + REGRESSION_METRICS, help="default: f1 or r2")
    parser.add_argument("--data", help="the runs of this data config (default: the active one)")
    args = parser.parse_args(argv)
    metric = args.metric or headline(args.data)
    data = args.data or load_params()["data"]["name"]
    experiment = tracking.experiment_name(load_params(), data)
    print(f"Runs on data {data!r} (MLflow experiment {experiment!r})")
    try:
        runs = ranked(latest_runs(metric, data=data), metric)  # the newest 20
    except Exception as exc:  # noqa: BLE001 - a broken or unreachable store: one line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PipelineError(f"cannot read runs from {tracking.tracking_uri()}: {reason}") from None
    print(ranking(runs, metric))


if __name__ == "__main__":
    run_cli(main)
