"""Refresh docs/experiment_log.md and docs/model_card.md from the tracked runs: `make report`.

    python -m <package>.commands.report [--metric f1] [--limit 50] [--no-register]

Only the blocks between `<!-- auto:begin NAME -->` and `<!-- auto:end NAME -->` are rewritten;
everything outside them (your findings, intended use, limitations) is kept as you wrote it.
The best run is the top of `make compare`'s table. Its model is registered under
`tracking.registered_model` with the alias `champion` (what `make predict` uses) unless
--no-register; the alias moves only when the best run changes. Its figures are copied to
docs/figures/ so the documents render anywhere (GitHub, an editor) without the MLflow server.
"""

import argparse
import json
import re
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
BLOCK = re.compile(
    r"(<!-- auto:begin (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- auto:end (?P=name) -->)", re.S
)
SPLITS = (  # label and metric-name prefix of each row of a metrics table
    ("test", ""), ("validation", "val."), ("train", "train."), ("baseline", "baseline."),
    ("lift over baseline", "lift."), ("train - test gap", "gap."),
)  # fmt: skip


def fill(text: str, blocks: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace the body of each auto block named in `blocks`; return the text and the names
    that have no block in it."""
    seen = set()

    def replace(match: re.Match) -> str:
        if match["name"] not in blocks:
            return match[0]
        seen.add(match["name"])
        return f"{match[1]}{blocks[match['name']].rstrip(chr(10))}\n{match[4]}"

    return BLOCK.sub(replace, text), [n for n in blocks if n not in seen]


def link(run) -> str:
    """The run in the MLflow UI: on the tracking server, or where `make ui` serves it."""
    uri = tracking.tracking_uri()
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"


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


def fetch_reports(mlflow_client, run_id: str) -> dict:
    """The run's figures (copied to docs/figures/) and JSON reports."""
    found: dict = {"figures": []}
    with tempfile.TemporaryDirectory() as folder:
        local = Path(mlflow_client.download_artifacts(run_id, "reports", folder))
        FIGURES.mkdir(parents=True, exist_ok=True)
        for png in sorted((local / "figures").glob("*.png")):
            shutil.copyfile(png, FIGURES / png.name)
            found["figures"].append(png.name)
        for name in ("per_class", "cleaning"):
            if (local / f"{name}.json").exists():
                found[name] = json.loads((local / f"{name}.json").read_text(encoding="utf-8"))
    return found


def metrics_table(metrics: Mapping[str, float], metric: str, splits=SPLITS) -> str:
    names = compare.task_metrics(metric)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, prefix in splits:
        signed = prefix in ("lift.", "gap.")
        values = (compare.number(metrics.get(prefix + k), signed) for k in names)
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


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
    return f"**{run.info.run_name}** ({model}, run [`{short}`]({link(run)}))"


def log_blocks(runs: Sequence, metric: str, figures: str, champion: str) -> dict:
    header, body = compare.cells(runs, metric)
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join([f"`{row[0]}`", *row[1:]]) + " |" for row in body]
    return {
        "summary": (
            f"Refreshed {time.strftime('%Y-%m-%d %H:%M')} by `make report`: the newest "
            f"{len(runs)} finished run(s), best first by test {metric}. Browse them: `make ui`."
        ),
        "runs": "\n".join(table),
        "best": "\n".join(
            [
                f"{title(runs[0])}, best by test {metric} of the runs above.",
                "",
                metrics_table(runs[0].data.metrics, metric, SPLITS[:4]),
                "",
                *provenance(runs[0]),
            ]
        ),
        "figures": figures,
        "champion": f"Champion model: {champion}.",
    }


def card_blocks(run, metric: str, reports: dict, figures: str, champion: str) -> dict:
    params = run.data.params
    settings = ", ".join(f"{k[6:]}={v}" for k, v in sorted(params.items()) if k[:6] == "model.")
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.info.start_time / 1000))
    per_class = reports.get("per_class") or {}
    classes = [c for c, v in per_class.items() if isinstance(v, dict) and "avg" not in c]
    cleaning = reports.get("cleaning") or {}
    return {
        "details": "\n".join(
            [
                f"- model: {title(run)}: {settings}",
                f"- registered as: {champion}",
                f"- trained: {started}, seed {params.get('seed', '?')}",
            ]
        ),
        "metrics": metrics_table(run.data.metrics, metric)
        + "\n\nThe test split chose this run among those compared, so its test score is slightly"
        " optimistic; validation and cross-validation are the honest cross-checks.",
        "per-class": "\n".join(
            ["| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
            + [
                f"| {c} | {per_class[c]['precision']:.3f} | {per_class[c]['recall']:.3f} | "
                f"{per_class[c]['f1-score']:.3f} | {int(per_class[c]['support'])} |"
                for c in classes
            ]
        )
        if classes
        else "_No classes: a regression model._",
        "figures": figures,
        "data": "\n".join(
            provenance(run)[1:2]
            + [
                f"- rows: {cleaning.get('rows_in')} in, {cleaning.get('rows_out')} kept, split"
                f" {cleaning.get('split_rows')}; dropped {cleaning.get('rows_dropped')}"
            ]
        ),
        "reproduce": f"```\nmake reproduce RUN={run.info.run_id}\n```",
    }


def write(path: Path, blocks: Mapping[str, str]) -> None:
    if not path.exists():
        raise PipelineError(f"{path} is missing: restore it from the template (`git checkout`)")
    text, missing = fill(path.read_text(encoding="utf-8"), blocks)
    path.write_text(text, encoding="utf-8")
    if missing:
        print(f"report: {path} has no auto block(s) {', '.join(missing)}: restore the markers")


def report(metric: str | None = None, limit: int = 50, do_register: bool = True) -> dict:
    metric = metric or compare.headline()
    runs = compare.ranked(compare.latest_runs(metric, limit), metric)
    if not runs:
        raise PipelineError("no finished, evaluated runs to report: run `dvc repro` first")
    mlflow_client = tracking.client()
    # The card describes the best run that logged a model (tracking.log_model can be off).
    card = next((run for run in runs if run.outputs.model_outputs), runs[0])
    name = load_params()["tracking"]["registered_model"]
    champion, moved = "not registered (`make report` without --no-register does it)", False
    if do_register and card.outputs.model_outputs:
        version, moved = register(mlflow_client, name, card)
        champion = f"`{name}` version {version}, alias `champion` (`models:/{name}@champion`)"
    reports = fetch_reports(mlflow_client, card.info.run_id)
    figures = "\n".join(
        f"![{png.removesuffix('.png').replace('_', ' ')} of {card.info.run_name}](figures/{png})"
        for png in reports["figures"]
    )
    figures = figures or "_No figures were logged for this run._"
    write(LOG, log_blocks(runs, metric, figures, champion))
    write(CARD, card_blocks(card, metric, reports, figures, champion))
    return {"best": runs[0], "card": card, "champion": champion, "moved": moved}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", choices=METRICS + REGRESSION_METRICS, help="default: f1 or r2")
    parser.add_argument("--limit", type=int, default=50, help="newest runs to consider")
    parser.add_argument("--no-register", action="store_true", help="leave the champion alias")
    args = parser.parse_args(argv)
    result = report(args.metric, args.limit, not args.no_register)
    print(f"report: wrote {LOG} and {CARD}; best run {result['best'].info.run_name}")
    print(f"report: champion {'moved to' if result['moved'] else 'is'} {result['champion']}")


if __name__ == "__main__":
    run_cli(main)
