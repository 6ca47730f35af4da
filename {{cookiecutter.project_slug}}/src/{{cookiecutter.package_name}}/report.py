"""Refresh docs/experiment_log.md and docs/model_card.md from the tracked runs: `make report`.

    python -m <package>.report [--metric f1] [--limit 50] [--no-register]

Only the blocks between `<!-- auto:begin NAME -->` and `<!-- auto:end NAME -->` are rewritten;
everything outside them (your findings, intended use, limitations) is kept as you wrote it.
The best run is the top of `make compare`'s table (test metric, ties to the better validation
score, then the smaller train-test gap, then the newer run). Its model is registered under
`tracking.registered_model` with the alias `champion` (what `make predict` uses) unless
--no-register; the alias moves only when the best run changes. Its figures are copied to
docs/figures/ so the documents render anywhere (GitHub, an editor) without the MLflow server.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .config import load_params
from .errors import PipelineError, run_cli
from .metrics import METRICS

DOCS = Path("docs")
LOG = DOCS / "experiment_log.md"
CARD = DOCS / "model_card.md"
FIGURES = DOCS / "figures"
BLOCK = re.compile(
    r"(<!-- auto:begin (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- auto:end (?P=name) -->)", re.S
)


def fill(text: str, blocks: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace the body of each auto block named in `blocks`; return the text and the names
    that have no block in it (left out, reported)."""
    seen = set()

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in blocks:
            return match[0]
        seen.add(name)
        body = blocks[name].rstrip("\n") + "\n"
        return f"{match[1]}{body}{match[4]}"

    return BLOCK.sub(replace, text), [n for n in blocks if n not in seen]


def ui_base() -> str:
    """Where a browser finds the MLflow UI: MLFLOW_UI_URL, a server's own URL, or `make ui`."""
    from .tracking import tracking_uri

    uri = tracking_uri()
    if url := os.environ.get("MLFLOW_UI_URL"):
        return url.rstrip("/")
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"


def run_link(run) -> str:
    return f"{ui_base()}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"


def _fmt(value, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def register(mlflow_client, name: str, row: dict) -> tuple[str, bool]:
    """Point the champion alias at this run's model; return (version, whether it moved)."""
    from mlflow.exceptions import MlflowException

    from .tracking import CHAMPION, MODEL_ARTIFACT, retry

    run_id = row["run_id"]
    try:
        current = mlflow_client.get_model_version_by_alias(name, CHAMPION)
        if current.run_id == run_id:
            return current.version, False
    except MlflowException:
        pass
    with contextlib.suppress(MlflowException):  # exists already
        retry(mlflow_client.create_registered_model, name)
    run = row["run"]
    source = run.data.tags.get("model.uri") or f"runs:/{run_id}/{MODEL_ARTIFACT}"
    version = retry(
        mlflow_client.create_model_version,
        name,
        source,
        run_id=run_id,
        model_id=source.removeprefix("models:/") if source.startswith("models:/m-") else None,
    ).version
    retry(mlflow_client.set_registered_model_alias, name, CHAMPION, version)
    retry(
        mlflow_client.set_model_version_tag,
        name,
        version,
        "selected_by",
        f"make report (best test {row['metric']})",
    )
    return version, True


def fetch_artifacts(mlflow_client, run_id: str) -> dict:
    """The best run's figures (copied to docs/figures/) and its JSON reports."""
    found: dict = {"figures": []}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(mlflow_client.download_artifacts(run_id, "reports", tmp))
        except Exception:  # noqa: BLE001 - a run without reports: the card says so
            return found
        FIGURES.mkdir(parents=True, exist_ok=True)
        for png in sorted((local / "figures").glob("*.png")):
            shutil.copyfile(png, FIGURES / png.name)
            found["figures"].append(png.name)
        for name in ("per_class", "cleaning", "metrics"):
            if (local / f"{name}.json").exists():
                found[name] = json.loads((local / f"{name}.json").read_text())
    return found


def figures_md(names: Sequence[str], run_name: str) -> str:
    if not names:
        return "_No figures were logged for the best run._"
    return "\n".join(
        f"![{n.removesuffix('.png').replace('_', ' ')} of {run_name}](figures/{n})" for n in names
    )


def best_block(row: dict, metric: str) -> str:
    run, tags, m = row["run"], row["run"].data.tags, row["run"].data.metrics
    dirty = tags.get("git.dirty") == "true"
    lines = [
        f"**{row['name']}** ({row['model']}, {row['kind'] or 'pipeline'} run "
        f"[`{row['run_id']}`]({run_link(run)})), best by test {metric} of the runs above.",
        "",
        "| split | " + " | ".join(METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
        "| test | " + " | ".join(_fmt(m.get(k)) for k in METRICS) + " |",
        "| validation | " + " | ".join(_fmt(m.get(f"val.{k}")) for k in METRICS) + " |",
        "| train | " + " | ".join(_fmt(m.get(f"train.{k}")) for k in METRICS) + " |",
        "| majority baseline | " + " | ".join(_fmt(m.get(f"baseline.{k}")) for k in METRICS) + " |",
        "",
        f"- config: `{tags.get('hydra.overrides') or '(the defaults of conf/)'}`",
        f"- code: commit `{tags.get('git.commit', '?')[:12]}`"
        + (f" **with uncommitted changes** ({tags.get('git.dirty_files')})" if dirty else ""),
        f"- data: raw `{tags.get('data.raw.md5', '?')}`, processed "
        f"`{tags.get('data.processed.md5', '?')}` (DVC hashes)",
        f"- re-run and check every metric: `make reproduce RUN={row['run_id']}`",
        f"- the same configuration as a DVC experiment: `{tags.get('reproduce.command', '?')}`",
    ]
    return "\n".join(lines)


def card_blocks(row: dict, artifacts: dict, registered: str) -> dict[str, str]:
    run, tags, m = row["run"], row["run"].data.tags, row["run"].data.metrics
    params = run.data.params
    model_keys = sorted(k for k in params if k.startswith("model.") and k != "model.name")
    if row["model"] == "mlp":
        model_keys += sorted(
            k
            for k in params
            if k.startswith("trainer.")
            and k.split(".")[1]
            in ("lr", "optimizer", "max_epochs", "batch_size", "weight_decay", "patience")
        )
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime((run.info.start_time or 0) / 1000))
    details = [
        f"- model: **{row['model']}** ({', '.join(f'{k}={params[k]}' for k in model_keys)})",
        f"- registered as: {registered}",
        f"- trained: {started}, MLflow run [`{row['run_id']}`]({run_link(run)})",
        f"- code: commit `{tags.get('git.commit', '?')[:12]}`"
        + (" (uncommitted changes!)" if tags.get("git.dirty") == "true" else "")
        + f"; seed {tags.get('seed', '?')}; device {tags.get('device', '?')}",
        f"- versions: Python {tags.get('version.python')}, scikit-learn "
        f"{tags.get('version.sklearn')}, PyTorch {tags.get('version.torch')}, "
        f"MLflow {tags.get('version.mlflow')}",
    ]
    rows = [
        ("test", ""),
        ("validation", "val."),
        ("train", "train."),
        ("majority baseline", "baseline."),
        ("lift over baseline", "lift."),
        ("train - test gap", "gap."),
    ]
    metrics = ["| | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for label, prefix in rows:
        signed = prefix in ("lift.", "gap.")
        metrics.append(
            f"| {label} | " + " | ".join(_fmt(m.get(prefix + k), signed) for k in METRICS) + " |"
        )
    if "cv.f1_mean" in m:
        metrics.append(
            f"\n{int(m.get('cv.folds', 0))}-fold cross-validation on the training "
            f"split: f1 {m['cv.f1_mean']:.3f} ± {m.get('cv.f1_std', 0):.3f}, "
            f"roc_auc {m.get('cv.roc_auc_mean', 0):.3f}."
        )
    metrics.append(
        "\nThe test split chose this run among the runs compared, so its test score "
        "is slightly optimistic; validation and cross-validation are the honest "
        "cross-checks."
    )
    per_class = artifacts.get("per_class") or {}
    classes = [
        c
        for c, v in per_class.items()
        if isinstance(v, dict)
        and "support" in v
        and c not in ("macro avg", "weighted avg", "micro avg")
    ]
    per_class_md = ["| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    per_class_md += [
        f"| {c} | {per_class[c]['precision']:.3f} | {per_class[c]['recall']:.3f} | "
        f"{per_class[c]['f1-score']:.3f} | {int(per_class[c]['support'])} |"
        for c in classes
    ]
    cleaning = artifacts.get("cleaning") or {}
    data = [
        f"- raw data: `{tags.get('data.raw.path', '?')}`, DVC md5 `{tags.get('data.raw.md5')}`"
        f" ({tags.get('data.raw.dvc', '?')})",
        f"- processed data: DVC md5 `{tags.get('data.processed.md5')}`",
    ]
    if cleaning:
        data.append(
            f"- rows: {cleaning.get('rows_in')} in, {cleaning.get('rows_out')} kept; "
            f"split {cleaning.get('split_rows')}; dropped {cleaning.get('rows_dropped')}"
        )
    return {
        "details": "\n".join(details),
        "metrics": "\n".join(metrics),
        "per-class": "\n".join(per_class_md) if classes else "_No per-class report logged._",
        "data": "\n".join(data),
        "figures": figures_md(artifacts.get("figures", []), row["name"]),
        "reproduce": (
            f"```\nmake reproduce RUN={row['run_id']}\n{tags.get('reproduce.command', '')}\n```"
        ),
    }


def write(path: Path, blocks: Mapping[str, str]) -> None:
    if not path.exists():
        raise PipelineError(
            f"{path} is missing: restore it from the template (it holds the "
            "`<!-- auto:begin NAME -->` blocks this command fills)"
        )
    text, missing = fill(path.read_text(encoding="utf-8"), blocks)
    path.write_text(text, encoding="utf-8")
    if missing:
        print(
            f"report: {path} has no auto block(s) {', '.join(missing)}: left out "
            "(restore the `<!-- auto:begin NAME -->` markers to get them back)",
            file=sys.stderr,
        )


def report(metric: str = "f1", limit: int = 50, do_register: bool = True) -> dict:
    from .compare import latest_runs, markdown_table, rows_for
    from .tracking import client, experiment_name, registered_model_name, tracking_uri

    cfg = load_params()
    mlflow_client = client()
    rows = rows_for(latest_runs(mlflow_client, experiment_name(cfg), limit), metric)
    if not rows:
        raise PipelineError(
            "no finished, evaluated runs to report: run `dvc repro` or `make sweep` first"
        )
    for row in rows:
        row["metric"] = metric
    best = rows[0]
    with_model = next((r for r in rows if r["has_model"]), None)
    name = registered_model_name(cfg)
    registered = "not registered (`make report` without --no-register does it)"
    moved = False
    if do_register and with_model is not None:
        version, moved = register(mlflow_client, name, with_model)
        registered = f"`{name}` version {version}, alias `champion` (`models:/{name}@champion`)"
        if with_model is not best:
            registered += (
                f"; the best run {best['name']} logged no model, so this is the best "
                f"run that did: {with_model['name']}"
            )
    card_row = with_model or best
    artifacts = fetch_artifacts(mlflow_client, card_row["run_id"])
    now = time.strftime("%Y-%m-%d %H:%M")
    write(
        LOG,
        {
            "summary": (
                f"Refreshed {now} by `make report` from `{tracking_uri()}`, experiment "
                f'"{experiment_name(cfg)}": the newest {len(rows)} finished run(s), best '
                f"first by test {metric}. Browse them all with `make ui`."
            ),
            "runs": markdown_table(rows, metric),
            "best": best_block(best, metric),
            "figures": figures_md(artifacts.get("figures", []), card_row["name"]),
            "champion": f"Champion model: {registered}.",
        },
    )
    write(CARD, card_blocks(card_row, artifacts, registered))
    return {"best": best, "card": card_row, "registered": registered, "moved": moved}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", default="f1", choices=METRICS)
    parser.add_argument("--limit", type=int, default=50, help="newest runs to consider")
    parser.add_argument(
        "--no-register", action="store_true", help="do not move the registry's champion alias"
    )
    args = parser.parse_args(argv)
    result = report(args.metric, args.limit, not args.no_register)
    best = result["best"]
    print(
        f"report: wrote {LOG} and {CARD}; best run {best['name']} ({best['run_id']}), "
        f"test {args.metric} {_fmt(best.get(args.metric))}"
    )
    print(f"report: champion {'moved to' if result['moved'] else 'is'} {result['registered']}")


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))
