"""The latest tracked runs side by side: `make compare [METRIC=roc_auc]`.

    python -m <package>.compare --metric f1 --limit 20

One row per finished, evaluated run (pipeline runs, sweep jobs, tuning trials), newest
`--limit` runs, best first by the chosen test-split metric: the model, the five test metrics,
the lift of that metric over the majority-class baseline (a model must beat "always predict
the most frequent class") and its train-test gap (large = overfitting).
"""

import argparse
import sys
from collections.abc import Sequence

from .config import load_params
from .errors import PipelineError, run_cli
from .metrics import METRICS


def latest_runs(mlflow_client, experiment: str, limit: int = 20) -> list:
    """Finished runs that were evaluated (they have test metrics), newest first."""
    from .tracking import retry

    exp = retry(mlflow_client.get_experiment_by_name, experiment)
    if exp is None:
        return []
    runs = retry(
        mlflow_client.search_runs,
        [exp.experiment_id],
        filter_string="attributes.status = 'FINISHED' and metrics.f1 >= 0",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    return list(runs)


def rows_for(runs: Sequence, metric: str) -> list[dict]:
    """One dict per run, sorted best first by `metric` (runs without it last)."""
    rows = []
    for run in runs:
        m, tags = run.data.metrics, run.data.tags
        rows.append(
            {
                "run_id": run.info.run_id,
                "name": run.info.run_name or "",
                "model": tags.get("model") or run.data.params.get("model.name", "?"),
                "kind": tags.get("run.kind", ""),
                "status": run.info.status,
                **{k: m.get(k) for k in METRICS},
                "lift": m.get(f"lift.{metric}"),
                "gap": m.get(f"gap.{metric}"),
                "val": m.get(f"val.{metric}"),
                "start_time": run.info.start_time or 0,
                "has_model": "model.uri" in tags,
                "run": run,
            }
        )
    # Ties (common on easy data) go to the better validation score, then the smaller
    # train-test gap, then the newer run.
    return sorted(
        rows,
        key=lambda r: (
            r.get(metric) is None,
            -(r.get(metric) or 0),
            -(r["val"] or 0),
            abs(r["gap"] or 0),
            -r["start_time"],
        ),
    )


def _number(value, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def table(rows: Sequence[dict], metric: str) -> tuple[list[str], list[list[str]]]:
    header = ["run", "name", "model", *METRICS, f"lift.{metric}", f"gap.{metric}"]
    body = [
        [
            r["run_id"][:8],
            r["name"],
            r["model"],
            *(_number(r[k]) for k in METRICS),
            _number(r["lift"], True),
            _number(r["gap"], True),
        ]
        for r in rows
    ]
    return header, body


def format_table(rows: Sequence[dict], metric: str) -> str:
    if not rows:
        return "no finished, evaluated runs yet: run `dvc repro` or `make sweep` first"
    header, body = table(rows, metric)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    lines.append(
        f"sorted by test {metric}; lift = over the majority-class baseline, gap = train minus test"
    )
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict], metric: str) -> str:
    header, body = table(rows, metric)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(f"`{row[0]}`" if i == 0 else row[i] for i in range(len(row))) + " |"
        for row in body
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", default="f1", choices=METRICS)
    parser.add_argument("--limit", type=int, default=20, help="newest runs to show (default 20)")
    args = parser.parse_args(argv)
    from .tracking import client, experiment_name, tracking_uri

    cfg = load_params()
    try:
        runs = latest_runs(client(), experiment_name(cfg), args.limit)
    except Exception as exc:  # noqa: BLE001 - an unreachable server: one line, not a traceback
        raise PipelineError(f"cannot read runs from {tracking_uri()}: {exc}") from None
    rows = rows_for(runs, args.metric)
    print(format_table(rows, args.metric))
    if rows:
        print(
            f"best: {rows[0]['name']} (run {rows[0]['run_id']}); "
            f"re-run it with: make reproduce RUN={rows[0]['run_id']}"
        )


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))
