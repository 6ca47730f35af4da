"""Refresh docs/experiment_log.md and docs/model_card.md from the tracked runs: `make report`.

Only the blocks between `<!-- auto:begin NAME -->` and `<!-- auto:end NAME -->` are rewritten.
The card's run (the best one that logged a model) becomes the registry's `champion`, and its
figures are copied to docs/figures/ so that the documents render without MLflow.
"""

import argparse
import csv
import json
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import tracking
from ..config import load_params
from ..errors import PipelineError, run_cli
from ..metrics import METRICS, REGRESSION_METRICS
from . import compare

DOCS = Path("docs")
LOG, CARD, FIGURES = DOCS / "experiment_log.md", DOCS / "model_card.md", DOCS / "figures"
SPLITS = (  # label and metric-name prefix of each row of a metrics table
    ("test", ""), ("validation", "val."), ("train", "train."), ("baseline", "baseline."),
    ("lift over baseline", "lift."), ("train - test gap", "gap."),
)  # fmt: skip


def fill(text: str, blocks: Mapping[str, str]) -> tuple[str, list[str]]:
    """Rewrite the auto blocks named in `blocks`; return the text and the names with no block."""
    missing = []
    for name, body in blocks.items():
        begin, end = f"<!-- auto:begin {name} -->\n", f"<!-- auto:end {name} -->"
        head, found, rest = text.partition(begin)
        if not found or end not in rest:
            missing.append(name)
            continue
        text = head + begin + body.rstrip("\n") + "\n" + end + rest.partition(end)[2]
    return text, missing


def register(mlflow_client, name: str, run) -> tuple[str, bool]:
    """Point the `champion` alias at this run's model; return (version, whether it moved)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        current = mlflow_client.get_model_version_by_alias(name, "champion")
        if current.run_id == run.info.run_id:
            return current.version, False
    except MlflowException:
        pass  # no champion yet
    mlflow.set_tracking_uri(tracking.tracking_uri())
    model_id = run.outputs.model_outputs[0].model_id
    version = mlflow.register_model(f"models:/{model_id}", name).version
    mlflow_client.set_registered_model_alias(name, "champion", version)
    return version, True


def fetch_reports(mlflow_client, run) -> tuple[str, dict, dict]:
    """Copy the run's figures to docs/figures/; return them as Markdown images, and the run's
    per-class report (classification only) and cleaning report."""
    images = []
    with tempfile.TemporaryDirectory() as folder:
        local = Path(mlflow_client.download_artifacts(run.info.run_id, "reports", folder))
        FIGURES.mkdir(parents=True, exist_ok=True)
        for png in sorted((local / "figures").glob("*.png")):
            shutil.copyfile(png, FIGURES / png.name)
            label = f"{png.stem.replace('_', ' ')} of {run.info.run_name}"
            images.append(f"![{label}](figures/{png.name})")
        per_class, cleaning = (
            json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            for path in (local / "plots" / "per_class.json", local / "cleaning.json")
        )
        ranked = local / "importance.csv"
        importance = (
            list(csv.reader(ranked.read_text().splitlines()))[1:] if ranked.exists() else []
        )
    figures = "\n".join(images) or "_No figures were logged for this run._"
    return figures, per_class, cleaning, importance


def importance_table(importance: list[list[str]]) -> str:
    """The ten columns the model relies on most (permutation importance, test split)."""
    if not importance:
        return "_No permutation importance was logged for this run._"
    rows = [
        [f"`{name}`", f"{float(drop):+.3f}", f"{float(std):.3f}"] for name, drop, std in importance
    ]
    table = compare.markdown_table([["column", "score lost when shuffled", "std"], *rows[:10]])
    return table + "\n\nWhere it errs most: `reports/mistakes.csv`, an artifact of the run."


def metrics_table(metrics: Mapping[str, float], metric: str) -> str:
    names, rows = compare.task_metrics(metric), []
    for label, prefix in SPLITS:
        sign = "+" if prefix in ("lift.", "gap.") else ""  # differences show their sign
        rows.append([label, *(compare.number(metrics.get(prefix + k), sign) for k in names)])
    return compare.markdown_table([["", *names], *rows])


def provenance(run) -> list[str]:
    tags, run_id = run.data.tags, run.info.run_id
    dirty = " **with uncommitted changes**" if tags.get("git.dirty") == "true" else ""
    return [
        f"- code: commit `{tags.get('mlflow.source.git.commit', '?')[:12]}`{dirty}",
        f"- data: {tags.get('data.name', '?')}, raw `{tags.get('data.raw.path', '?')}` "
        f"(DVC md5 `{tags.get('data.raw.md5', '?')}`)",
        f"- re-run it and check every metric: `make reproduce RUN={run_id[:8]}`",
    ]


def title(run) -> str:
    model, short = run.data.tags.get("model", "?"), run.info.run_id[:8]
    return f"**{run.info.run_name}** ({model}, run `{short}`)"


def log_blocks(runs: Sequence, metric: str, figures: str, champion: str) -> dict:
    best = runs[0]
    return {
        "summary": (
            f"Refreshed {time.strftime('%Y-%m-%d %H:%M')} by `make report`: the newest "
            f"{len(runs)} finished run(s), best first by test {metric}. Browse them: `make ui`."
        ),
        "runs": compare.format_table(runs, metric),
        # Its scores are in the table above, and the model card has them all.
        "best": "\n".join(
            [f"{title(best)}, best by test {metric} of the runs above.", *provenance(best)]
        ),
        "figures": figures,
        "champion": f"Champion model: {champion}.",
    }


def card_blocks(run, metric: str, champion: str, reports: tuple) -> dict:
    figures, per_class, cleaning, importance = reports
    params = run.data.params
    settings = ", ".join(f"{k[6:]}={v}" for k, v in sorted(params.items()) if k[:6] == "model.")
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.info.start_time / 1000))
    classes = [["class", "precision", "recall", "f1", "support"]] + [
        [c, *(f"{v[k]:.3f}" for k in ("precision", "recall", "f1-score")), int(v["support"])]
        for c, v in per_class.items()
        if isinstance(v, dict) and "avg" not in c  # not the overall accuracy and averages
    ]
    return {
        "details": f"- model: {title(run)}: {settings}\n- registered as: {champion}\n"
        f"- trained: {started}, seed {params.get('seed', '?')}",
        "metrics": metrics_table(run.data.metrics, metric)
        + "\n\nThe test split chose this run among those compared, so its test score is slightly"
        " optimistic; validation and cross-validation are the honest cross-checks.",
        "per-class": compare.markdown_table(classes) if per_class else "_None: a regression._",
        "figures": figures,
        "importance": importance_table(importance),
        "data": f"{provenance(run)[1]}\n- rows: {cleaning.get('rows_in')} in, "
        f"{cleaning.get('rows_out')} kept, split {cleaning.get('split_rows')}; "
        f"dropped {cleaning.get('rows_dropped')}",
        "reproduce": f"```\nmake reproduce RUN={run.info.run_id}\n```",
    }


def write(path: Path, blocks: Mapping[str, str]) -> None:
    if not path.exists():
        raise PipelineError(f"{path} is missing: restore it from the template (`git checkout`)")
    text, missing = fill(path.read_text(encoding="utf-8"), blocks)
    path.write_text(text, encoding="utf-8")
    if missing:
        print(f"report: {path} has no auto block(s) {', '.join(missing)}: restore the markers")


def report(metric: str | None = None, limit: int = 50, data: str | None = None) -> dict:
    """The docs and the champion of one dataset (`data`, else the active one)."""
    metric = metric or compare.headline(data)
    runs = compare.ranked(compare.latest_runs(metric, limit, data=data), metric)
    if not runs:
        raise PipelineError(
            f"no finished, evaluated runs on data {data or load_params()['data']['name']!r} "
            "to report: run `dvc repro` (or `make sweep`) first"
        )
    mlflow_client = tracking.client()
    # The card describes the best run that logged a model (tracking.log_model can be off).
    card = next((run for run in runs if run.outputs.model_outputs), runs[0])
    champion, moved = "none (no run logged a model: `tracking.log_model` is off)", False
    if card.outputs.model_outputs:
        name = tracking.registered_model(load_params(), data)
        version, moved = register(mlflow_client, name, card)
        champion = f"`{name}` version {version}, alias `champion` (`models:/{name}@champion`)"
    reports = fetch_reports(mlflow_client, card)  # figures, per-class and cleaning reports
    write(LOG, log_blocks(runs, metric, reports[0], champion))
    write(CARD, card_blocks(card, metric, champion, reports))
    return {"best": runs[0], "card": card, "champion": champion, "moved": moved}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", choices=METRICS + REGRESSION_METRICS, help="default: f1 or r2")
    parser.add_argument("--data", help="the runs of this data config (default: the active one)")
    args = parser.parse_args(argv)
    result = report(args.metric, data=args.data)
    print(f"report: wrote {LOG} and {CARD}; best run {result['best'].info.run_name}")
    print(f"report: champion {'moved to' if result['moved'] else 'is'} {result['champion']}")


if __name__ == "__main__":
    run_cli(main)
