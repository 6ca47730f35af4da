"""Training speed: the generated project's PyTorch trainer vs a minimal loop vs Lightning.

Usage (what `make bench` runs; any Python with torch, scikit-learn and lightning):

    python bench/bench_trainer.py --json OUT.json [--project BAKED_PROJECT_DIR]
                                  [--device cpu|cuda] [--rows 200000] [--repeats 3]
                                  [--threads 1] [--precision fp32]

--project is a baked project (the folder holding pyproject.toml and src/<package>/); its src/ is
put on sys.path, and its conf/trainer/default.yaml gives the trainer's settings. Without it,
the template this file sits in is baked with its default answers into a temporary folder
(cookiecutter must then be importable). On a GPU machine, e.g.:
    python bench/bench_trainer.py --device cuda --rows 2000000 --repeats 2 --json gpu.json

The task (issue 5): a synthetic table of --rows rows x 32 features, 3 classes, an MLP with
two hidden layers of 128, Adam (lr 1e-3), batch 256, two epochs, float32. Measured:
- trainer:   the project's scikit-learn estimator, `MLPClassifier(...).fit(X, y, eval_set=...)`,
             so with its input checks and label encoding, per-epoch validation on another rows/10
             rows, a checkpoint each epoch and the progress bar (drawn into a buffer);
- minimal:   a hand-written loop that shuffles row numbers and slices tensors, no validation;
- minimal_fused: the same loop with Adam(fused=True), as the trainer uses on CPU and CUDA:
             trainer / minimal_fused is the cost of the trainer's bookkeeping (goal >= 0.95);
- lightning: Lightning's Trainer over a shuffling DataLoader, no validation, no logger,
             checkpointing or progress bar (its fastest setup); goal: trainer >= 2.5x as fast.
All run with --threads intra-op threads (default 1, as the trainer's own default
cpu_threads; 0 keeps PyTorch's default, one per core): for a network this small a second
thread buys ~15% on an idle machine, but when other processes compete for the cores, threads
that wait for each other make every loop several times slower and the ratios random.
Each timing covers the training call (model creation, data to the device, loop). They
run interleaved in a rotating order, --repeats rounds after one small warm-up, so background
load hits all alike. Reported: each loop's median samples/s over the rounds, and each ratio as
the median over rounds of that round's ratio (runs of one round are close in time, so slow
changes in background load cancel; one lucky or unlucky round cannot move a median of three).
The best round of each is printed too.
Writes {"trainer_samples_per_s", "minimal_samples_per_s", "lightning_samples_per_s",
"trainer_vs_minimal", "trainer_vs_minimal_fused", "trainer_vs_lightning"}.
"""

import argparse
import contextlib
import functools
import importlib
import io
import json
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BENCH_REQUIRES = ["lightning"]  # for bench/run.py: installed into the bench project's .venv

FEATURES, CLASSES, HIDDEN, BATCH, EPOCHS, LR = 32, 3, 128, 256, 2, 1e-3
GOALS = {"trainer_vs_minimal_fused": 0.95, "trainer_vs_lightning": 2.5}


def make_data(rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = rows + rows // 10  # the extra tenth is the trainer's validation set
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    logits = x @ rng.normal(size=(FEATURES, CLASSES)) + rng.normal(scale=0.5, size=(n, CLASSES))
    y = logits.argmax(axis=1).astype(np.int64)
    return x[:rows], y[:rows], x[rows:], y[rows:]


def network() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
        nn.Linear(HIDDEN, CLASSES),
    )  # fmt: skip


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_minimal(data, device: str, epochs: int, fused: bool = False) -> float:
    x_np, y_np = data[0], data[1]
    sync(device)
    start = time.perf_counter()
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)
    torch.manual_seed(0)
    net = network().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR, fused=fused or None)
    for _ in range(epochs):
        order = torch.randperm(len(y), device=device)
        for i in range(0, len(y), BATCH):
            rows = order[i : i + BATCH]
            loss = F.cross_entropy(net(x[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    sync(device)
    return time.perf_counter() - start


def run_lightning(data, device: str, epochs: int) -> float:
    import lightning as L

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):  # set at import: undo
        logging.getLogger(name).setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = network()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LR)

    sync(device)
    start = time.perf_counter()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(data[0]), torch.from_numpy(data[1]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    torch.manual_seed(0)
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="gpu" if device == "cuda" else "cpu", devices=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(Module(), loader)
    sync(device)
    return time.perf_counter() - start


def make_run_trainer(package: str, conf: Path, work: Path, device: str, precision: str):
    import yaml

    mlp = importlib.import_module(f"{package}.models.mlp")
    settings = yaml.safe_load((conf / "trainer" / "default.yaml").read_text())
    settings.update(
        device=device, precision=precision, optimizer="adam", lr=LR, weight_decay=0.0,
        scheduler="none", batch_size=BATCH, patience=None,
        checkpoint_dir=str(work / "checkpoints"), resume="never", progress=True,
        cpu_threads=torch.get_num_threads(),  # the same as the other loops (--threads)
    )  # fmt: skip

    def run(data, device_: str, epochs: int) -> float:
        trainer = {**settings, "max_epochs": epochs}
        model = mlp.MLPClassifier(hidden_sizes=(HIDDEN, HIDDEN), dropout=0.0, trainer=trainer)
        bar = io.StringIO()  # the bar is drawn (formatting costs included), just not shown
        sync(device)
        start = time.perf_counter()
        with contextlib.redirect_stderr(bar):
            model.fit(data[0], data[1], eval_set=(data[2], data[3]))
        sync(device)
        return time.perf_counter() - start

    return run


def find_project(args, tmp: Path) -> Path:
    if args.project:
        return Path(args.project).resolve()
    from cookiecutter.main import cookiecutter

    template = Path(__file__).resolve().parents[1]
    return Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp), accept_hooks=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--project", help="a baked project folder (default: bake one)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", help="trainer.precision (CUDA only)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads; 0: torch's")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # Lightning's advice about workers etc.

    with tempfile.TemporaryDirectory() as tmp:
        project = find_project(args, Path(tmp))
        sys.path.insert(0, str(project / "src"))
        package = next(p.parent.name for p in (project / "src").glob("*/__init__.py"))
        run_trainer = make_run_trainer(
            package, project / "conf", Path(tmp), args.device, args.precision
        )
        runners = {
            "trainer": run_trainer,
            "minimal": run_minimal,
            "minimal_fused": functools.partial(run_minimal, fused=True),
            "lightning": run_lightning,
        }
        data = make_data(args.rows)
        small = make_data(5_000)
        for run in runners.values():  # warm-up: first-call costs (imports, allocator) off the clock
            run(small, args.device, 1)
        seconds: dict[str, list[float]] = {name: [] for name in runners}
        names = list(runners)
        for round_ in range(args.repeats):
            first = round_ % len(names)
            for name in names[first:] + names[:first]:  # rotate who goes first
                seconds[name].append(runners[name](data, args.device, EPOCHS))

    samples = args.rows * EPOCHS
    best = {name: samples / min(s) for name, s in seconds.items()}
    median = {name: samples / statistics.median(s) for name, s in seconds.items()}
    # trainer speed / other speed = other time / trainer time, round by round
    ratio = {
        name: statistics.median(o / t for o, t in zip(s, seconds["trainer"], strict=True))
        for name, s in seconds.items()
    }
    results = {
        "trainer_samples_per_s": round(median["trainer"]),
        "minimal_samples_per_s": round(median["minimal"]),
        "lightning_samples_per_s": round(median["lightning"]),
        "trainer_vs_minimal": round(ratio["minimal"], 3),
        "trainer_vs_minimal_fused": round(ratio["minimal_fused"], 3),
        "trainer_vs_lightning": round(ratio["lightning"], 3),
    }
    print(
        f"trainer benchmark: {args.rows} rows x {FEATURES} features, {CLASSES} classes, MLP "
        f"{HIDDEN}-{HIDDEN}, Adam, batch {BATCH}, {EPOCHS} epochs, {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"median of {args.repeats} interleaved rounds"
    )
    print(f"{'loop':<14} {'samples/s':>10} {'best':>10} {'trainer is':>11}")
    for name in runners:
        print(f"{name:<14} {median[name]:>10,.0f} {best[name]:>10,.0f} {ratio[name]:>10.2f}x")
    for key, goal in GOALS.items():
        verdict = "ok" if results[key] >= goal else "BELOW GOAL"
        print(f"{key} = {results[key]:.3f} (goal >= {goal}): {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
