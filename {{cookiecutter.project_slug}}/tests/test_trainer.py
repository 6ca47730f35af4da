"""The PyTorch trainer (devices, settings, determinism, early stopping, checkpoints, interrupts,
torchrun, both tasks) and MLPClassifier / MLPRegressor, the scikit-learn estimators around it.
CPU unless a GPU is present."""

import errno
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from trainer_helpers import DEFAULTS, SMALL, blobs, linear, network, settings, train

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.models import checkpoints
from {{ cookiecutter.package_name }}.models.devices import (
    resolve_device,
)
from {{ cookiecutter.package_name }}.models.mlp import (
    MLPClassifier,
    MLPRegressor,
)
from {{ cookiecutter.package_name }}.models.trainer import (
    ConfigError,
    TrainerConfig,
    TrainingInterrupted,
)

HELPER = Path(__file__).with_name("trainer_helpers.py")
GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def signal_at_step(net, step: int, signum: int, *, training: bool = True) -> None:
    """Send this process `signum` in the step-th forward pass (from 1) of training, or of
    validation with training=False."""
    calls = {"n": 0}

    def hook(module, inputs):
        if module.training == training:
            calls["n"] += 1
            if calls["n"] == step:
                os.kill(os.getpid(), signum)

    net.register_forward_pre_hook(hook)


def subprocess_env() -> dict:
    """The environment for a child Python that must import this package, installed or not."""
    package = {{ cookiecutter.package_name }}
    src = str(Path(package.__file__).parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


# ---- devices and settings -------------------------------------------------------------------


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_device_is_the_cpu_without_gpus(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")


@pytest.mark.parametrize("name", ["cuda", "mps"])
def test_asking_for_a_missing_gpu_fails_in_one_line(no_gpu, name):
    with pytest.raises(ConfigError, match=f"trainer.device='{name}'.*use trainer.device=auto"):
        resolve_device(name)
    with pytest.raises(ConfigError) as info:
        train(settings(device=name))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("optimizer", "lion", "trainer.optimizer='lion' is not valid: use one of adam, adamw, sgd"),
        ("device", "tpu", "trainer.device='tpu' is not valid: use one of auto, cpu, cuda, mps"),
        ("scheduler", "onecycle", "use one of none, cosine, step"),
        ("precision", "int8", "use one of auto, bf16, fp16, fp32"),
        ("progress", "yes", "use one of auto, true, false"),
        ("lr", 0, "trainer.lr=0 is not valid: use a number > 0"),
        ("lr", "1e-3", "YAML reads 1e-3 as text: write it with a dot, e.g. 1.0e-3"),
        ("cpu_threads", 0, "use an integer > 0 (or null: one per core)"),
        ("batch_size", 1.5, "trainer.batch_size=1.5 is not valid: use an integer > 0"),
        ("max_epochs", True, "trainer.max_epochs=True is not valid: use an integer > 0"),
        ("patience", -1, "use an integer >= 0 (or null: never stop early)"),
        ("momentum", "high", "trainer.momentum='high' is not valid: use a number >= 0"),
        ("checkpoint_dir", 3, "use a folder path, or null for no checkpoints"),
        ("learning_rate", 0.1, "trainer.learning_rate is not a trainer setting: use device, "),
    ],
)
def test_a_bad_setting_fails_in_one_line_naming_key_and_choices(key, value, message):
    with pytest.raises(ConfigError) as info:
        TrainerConfig.from_dict({**DEFAULTS, key: value})
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, PipelineError)  # the stages print it in one line


def test_the_shipped_defaults_are_the_dataclass_defaults():
    assert TrainerConfig.from_dict(DEFAULTS) == TrainerConfig()  # conf/ and code agree
    assert TrainerConfig.from_dict({"lr": 0.01}) == replace(TrainerConfig(), lr=0.01)


# ---- training -----------------------------------------------------------------------------------


def test_it_learns_and_reports_each_epoch():
    _, history, summary = train(settings(max_epochs=8))
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "lr"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert summary["best_val_accuracy"] > 0.8
    assert summary["device"] == "cpu" and summary["precision"] == "float32"
    assert summary["epochs_run"] == 8 and summary["world_size"] == 1


@pytest.mark.parametrize("threads", [1, None], ids=["one-thread", "one-per-core"])
def test_same_seed_same_numbers_bit_for_bit(threads):
    # Dropout on: the random streams and the arithmetic must repeat, whatever the threads.
    config, data = settings(max_epochs=2, cpu_threads=threads), blobs(rows=600)
    net_a, history_a, _ = train(config, dropout=0.2, data=data)
    net_b, history_b, _ = train(config, dropout=0.2, data=data)
    assert history_a == history_b
    assert same_weights(net_a.state_dict(), net_b.state_dict())
    if threads == 1:  # and another seed gives other numbers
        _, history_c, _ = train(config, dropout=0.2, data=data, seed=1)
        assert history_c != history_a


def test_thread_count_is_restored_after_training():
    before = torch.get_num_threads()
    train(settings(max_epochs=1, cpu_threads=before + 1))
    assert torch.get_num_threads() == before


def test_early_stopping_stops_and_restores_the_best_weights():
    # Random labels: the validation loss only gets worse once the network starts memorising.
    data = blobs(rows=1000, random_labels=True)
    net, history, summary = train(settings(max_epochs=60, patience=3, lr=0.01), data=data)
    assert summary["stopped_early"] and summary["epochs_run"] < 60
    assert summary["epochs_run"] == summary["best_epoch"] + 3
    best = history[summary["best_epoch"] - 1]["val_loss"]
    assert best == summary["best_val_loss"] == min(h["val_loss"] for h in history)
    assert best < history[-1]["val_loss"]
    with torch.no_grad():
        now = F.cross_entropy(net.eval()(torch.from_numpy(data[2])), torch.from_numpy(data[3]))
    assert math.isclose(now.item(), best, rel_tol=1e-5)  # the weights of the best epoch


def test_early_stopping_can_watch_accuracy():
    _, history, summary = train(settings(max_epochs=6, monitor="val_accuracy", patience=None))
    assert summary["best_val_accuracy"] == max(h["val_accuracy"] for h in history)
    assert summary["epochs_run"] == 6 and not summary["stopped_early"]


@pytest.mark.parametrize(
    ("overrides", "expected_lrs"),
    [
        ({"optimizer": "sgd", "scheduler": "step", "step_size": 2, "gamma": 0.5, "lr": 0.1},
         [0.1, 0.1, 0.05, 0.05]),
        ({"optimizer": "adamw", "scheduler": "cosine", "lr": 0.01, "weight_decay": 0.01},
         [0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]),
    ],
)  # fmt: skip
def test_optimisers_and_schedules(overrides, expected_lrs):
    _, history, summary = train(settings(max_epochs=4, **overrides))
    assert [h["lr"] for h in history] == pytest.approx(expected_lrs)
    assert summary["best_val_accuracy"] > 0.7


def test_read_only_and_reversed_arrays_train_like_any_other():
    x_train, y_train, x_val, y_val = blobs(rows=500)
    x_train.setflags(write=False)  # e.g. memory-mapped: the trainer copies the rows it needs
    _, history, _ = train(settings(max_epochs=1), data=(x_train[::-1], y_train[::-1], x_val, y_val))
    assert len(history) == 1 and history[0]["val_accuracy"] > 0


def test_progress_bar_is_quiet_when_output_is_not_a_terminal(capsys):
    train(settings(max_epochs=2, progress="auto"))
    assert capsys.readouterr().err == ""
    train(settings(max_epochs=2, progress=True))
    assert "epoch 2/2" in capsys.readouterr().err


# ---- checkpoints and interrupts -------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    # SIGTERM in the 30th step (epoch 2 of 25-step epochs): one checkpoint, loadable safely.
    config = settings(checkpoint_dir=str(tmp_path), max_epochs=4)
    net = network(0.2)
    signal_at_step(net, 30, signal.SIGTERM)
    with pytest.raises(TrainingInterrupted) as info:
        train(config, dropout=0.2, net=net)
    assert info.value.exit_code == 143 and info.value.checkpoint.parent == tmp_path
    assert "trainer.resume=auto" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == [info.value.checkpoint.name]  # no temp file
    saved = torch.load(info.value.checkpoint, weights_only=True)
    assert saved["state"]["epoch"] == 1 and saved["state"]["step"] == 5
    assert same_weights(saved["model"], net.state_dict())
    assert len(saved["state"]["history"]) == 1 and saved["optimizer"]["state"]


def test_a_full_disk_fails_in_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch):
    def full_disk(payload, file):
        file.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints.torch, "save", full_disk)
    with pytest.raises(PipelineError) as info:
        train(settings(checkpoint_dir=str(tmp_path), max_epochs=2))
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    assert "trainer.checkpoint_dir=null" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("when", ["mid-epoch", "while-validating"])
def test_interrupt_then_resume_is_bit_for_bit_the_same(tmp_path, when):
    config = settings(checkpoint_dir=str(tmp_path), max_epochs=4)
    reference, history_reference, _ = train(settings(max_epochs=4), dropout=0.2)

    net = network(0.2)
    if when == "mid-epoch":
        signal_at_step(net, 40, signal.SIGINT)  # step 15 of epoch 2
    else:
        signal_at_step(net, 2, signal.SIGINT, training=False)  # validating epoch 2
    with pytest.raises(TrainingInterrupted) as info:
        train(config, dropout=0.2, net=net)
    assert info.value.exit_code == 130 and info.value.checkpoint.exists()

    resumed, history, summary = train(config, dropout=0.2)
    assert summary["resumed_from_epoch"] == (1 + 15 / 25 if when == "mid-epoch" else 2)
    assert history == history_reference  # the epochs in the checkpoint and the new ones
    assert same_weights(resumed.state_dict(), reference.state_dict())
    assert list(tmp_path.iterdir()) == []  # finished: the checkpoint is gone


def test_only_the_same_configuration_resumes(tmp_path):
    def interrupted_run():
        net = network()
        signal_at_step(net, 30, signal.SIGINT)
        with pytest.raises(TrainingInterrupted):
            train(settings(checkpoint_dir=str(tmp_path)), net=net)

    interrupted_run()
    _, _, summary = train(settings(checkpoint_dir=str(tmp_path), lr=0.01))
    assert summary["resumed_from_epoch"] is None
    assert len(list(tmp_path.iterdir())) == 1  # the other configuration's file is untouched
    _, _, summary = train(settings(checkpoint_dir=str(tmp_path), progress=True))
    assert summary["resumed_from_epoch"] == pytest.approx(1.2)  # progress changes no number
    interrupted_run()
    _, _, summary = train(settings(checkpoint_dir=str(tmp_path), resume="never"))
    assert summary["resumed_from_epoch"] is None


def test_an_unreadable_checkpoint_means_starting_afresh(tmp_path, capsys):
    net = network()
    signal_at_step(net, 30, signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as info:
        train(settings(checkpoint_dir=str(tmp_path)), net=net)
    info.value.checkpoint.write_bytes(b"cut short by a power failure")
    fresh, history, summary = train(settings(checkpoint_dir=str(tmp_path)))
    assert summary["resumed_from_epoch"] is None
    assert "ignoring unreadable checkpoint" in capsys.readouterr().err
    reference, history_reference, _ = train(settings())
    assert history == history_reference
    assert same_weights(fresh.state_dict(), reference.state_dict())


@pytest.mark.slow
def test_ctrl_c_on_a_real_process_then_resume_matches_an_uninterrupted_run(tmp_path):
    checkpoints, out = tmp_path / "checkpoints", tmp_path / "out.pt"
    command = [sys.executable, str(HELPER), str(out), "--checkpoint-dir", str(checkpoints),
               "--dropout", "0.2", "--epochs", "4"]  # fmt: skip
    first = subprocess.Popen(
        [*command, "--step-sleep", "0.01"], env=subprocess_env(), stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not list(checkpoints.glob("*.pt")):  # the first epoch's checkpoint
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.02)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert "stopped by SIGINT" in err and not out.exists()

    resumed = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    result = torch.load(out, weights_only=True)
    assert result["summary"]["resumed_from_epoch"] >= 1

    reference, history, _ = train(settings(max_epochs=4), dropout=0.2)
    assert result["history"] == history
    assert same_weights(result["weights"], reference.state_dict())


# ---- torchrun ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_torchrun_with_two_cpu_processes_matches_one_process(tmp_path, task):
    """Two processes split every batch and average gradients: the same training, up to rounding.

    Tolerance: weights within 1e-5 and losses within 1e-5 (relative) of one process after five
    epochs (measured: about 1e-7); only summation order differs, so more would be a real bug.
    2007 rows give 1605 training rows: the last batch (5 rows) splits unevenly, 3 and 2.
    """
    out = tmp_path / "ddp.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
               "--master-addr=127.0.0.1", f"--master-port={free_port()}",
               str(HELPER), str(out), "--rows", "2007", "--task", task]  # fmt: skip
    done = subprocess.run(
        command, env=subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = torch.load(out, weights_only=True)
    assert result["summary"]["world_size"] == 2

    data = (linear if task == "regression" else blobs)(rows=2007)
    single, history, _ = train(settings(), data=data, task=task)
    assert len(result["history"]) == len(history)
    for ddp_epoch, one_epoch in zip(result["history"], history, strict=True):
        assert ddp_epoch.keys() == one_epoch.keys()
        assert ddp_epoch["train_loss"] == pytest.approx(one_epoch["train_loss"], rel=1e-5)
        assert ddp_epoch["val_loss"] == pytest.approx(one_epoch["val_loss"], rel=1e-5)
        if task == "classification":
            assert abs(ddp_epoch["val_accuracy"] - one_epoch["val_accuracy"]) <= 0.005
    for name, weight in single.state_dict().items():
        torch.testing.assert_close(result["weights"][name], weight, atol=1e-5, rtol=1e-5)


# ---- MLPClassifier and MLPRegressor: the scikit-learn estimators --------------------------


SPECIES = np.array(["Adelie", "Chinstrap", "Gentoo"])


def labelled(rows: int = 1000):
    """blobs() with string labels, as the train stage passes them."""
    x_train, y_train, x_val, y_val = blobs(rows)
    return x_train, SPECIES[y_train], x_val, SPECIES[y_val]


def in_units(rows: int = 1000):
    """linear() in other units (a price, say): the regressor must scale y itself."""
    x_train, y_train, x_val, y_val = linear(rows)
    return x_train, 2000 + 300 * y_train, x_val, 2000 + 300 * y_val


def test_mlp_learns_string_labels_and_reports_its_training():
    x_train, y_train, x_val, y_val = labelled()
    model = MLPClassifier(hidden_sizes=[16, 16], trainer=SMALL)
    assert model.fit(x_train, y_train, eval_set=(x_val, y_val)) is model
    assert list(model.classes_) == list(SPECIES) and model.n_features_in_ == x_train.shape[1]
    proba = model.predict_proba(x_val)
    assert proba.shape == (len(x_val), 3) and proba.dtype == np.float64
    assert np.allclose(proba.sum(axis=1), 1)
    assert model.score(x_val, y_val) > 0.8 and set(model.predict(x_val)) <= set(SPECIES)
    assert len(model.history_) == 5 == model.fit_summary_["epochs_run"]
    assert model.fit_summary_["best_val_accuracy"] == model.score(x_val, y_val)  # best weights
    assert next(model.net_.parameters()).device.type == "cpu"  # pickles and loads anywhere


def test_mlp_without_eval_set_holds_out_a_seeded_validation_split():
    x, y, _, _ = labelled()
    a = MLPClassifier(hidden_sizes=[8], trainer={**SMALL, "max_epochs": 2}).fit(x, y)
    b = MLPClassifier(hidden_sizes=[8], trainer={**SMALL, "max_epochs": 2}).fit(x, y)
    c = MLPClassifier(hidden_sizes=[8], trainer={**SMALL, "max_epochs": 2}, random_state=1)
    assert a.history_ == b.history_ != c.fit(x, y).history_
    held_out = round(0.1 * len(y))  # accuracy is counted on that many rows
    assert all((h["val_accuracy"] * held_out) % 1 < 1e-6 for h in a.history_)


@pytest.mark.parametrize(
    ("estimator", "data"), [(MLPClassifier, labelled), (MLPRegressor, in_units)]
)
def test_mlp_works_with_clone_cross_validate_pipeline_and_joblib(tmp_path, estimator, data):
    x, y, x_test, _ = data(600)
    model = estimator(hidden_sizes=[8], dropout=0.0, trainer={**SMALL, "lr": 0.02})
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "net_")
    pipeline = make_pipeline(StandardScaler(), model)
    scores = cross_validate(pipeline, x, y, cv=3)  # accuracy, or R² for the regressor
    assert len(scores["test_score"]) == 3 and min(scores["test_score"]) > 0.6

    pipeline.set_params(**{f"{estimator.__name__.lower()}__dropout": 0.1}).fit(x, y)
    joblib.dump(pipeline, tmp_path / "model.joblib")
    again = joblib.load(tmp_path / "model.joblib")
    output = "predict_proba" if hasattr(pipeline, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(again, output)(x_test), getattr(pipeline, output)(x_test))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_sizes": [16, 0]}, "model.hidden_sizes=[16, 0] is not valid"),
        ({"dropout": 1.0}, "model.dropout=1.0 is not valid: use a number in [0, 1)"),
        ({"validation_fraction": 1.5}, "model.validation_fraction=1.5 is not valid"),
        ({"trainer": {"learning_rate": 0.1}}, "trainer.learning_rate is not a trainer setting"),
        ({"trainer": {"device": "cuda"}}, "trainer.device='cuda' but this PyTorch sees no"),
    ],
)
def test_mlp_bad_params_fail_in_one_line(params, message, no_gpu):
    x, y, _, _ = labelled(100)
    with pytest.raises(ConfigError) as info:
        MLPClassifier(**params).fit(x, y)
    assert re.search(re.escape(message), str(info.value)) and "\n" not in str(info.value)


# ---- regression: the trainer's mean squared error and MLPRegressor ----------------------------


def test_regression_reports_the_loss_without_accuracy():
    _, history, summary = train(settings(max_epochs=4), task="regression")
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "lr"}
    assert history[-1]["val_loss"] < 0.3 < history[0]["train_loss"]  # of y's variance 1
    assert summary["best_val_loss"] == min(h["val_loss"] for h in history)
    assert "best_val_accuracy" not in summary


def test_regression_refuses_to_watch_accuracy_in_one_line():
    with pytest.raises(ConfigError) as info:
        train(settings(monitor="val_accuracy"), task="regression")
    message = "trainer.monitor='val_accuracy' does not suit regression: use val_loss"
    assert message in str(info.value) and "\n" not in str(info.value)
    x, y, _, _ = linear(200)
    with pytest.raises(ConfigError, match=re.escape(message)):
        MLPRegressor(trainer={**SMALL, "monitor": "val_accuracy"}).fit(x, y)


def test_regression_interrupt_then_resume_is_bit_for_bit_the_same(tmp_path):
    config = settings(checkpoint_dir=str(tmp_path), max_epochs=3)
    reference, history_reference, _ = train(settings(max_epochs=3), task="regression")
    net = network(outputs=1)
    signal_at_step(net, 40, signal.SIGINT)  # step 15 of epoch 2
    with pytest.raises(TrainingInterrupted):
        train(config, net=net, task="regression")
    resumed, history, summary = train(config, task="regression")
    assert summary["resumed_from_epoch"] == pytest.approx(1.6)
    assert history == history_reference
    assert same_weights(resumed.state_dict(), reference.state_dict())


def test_mlp_regressor_learns_a_linear_target_in_its_own_units():
    x_train, y_train, x_val, y_val = in_units()
    model = MLPRegressor(hidden_sizes=[16], dropout=0.0, trainer={**SMALL, "lr": 0.01})
    assert model.fit(x_train, y_train, eval_set=(x_val, y_val)) is model
    predicted = model.predict(x_val)
    assert predicted.shape == (len(x_val),) and predicted.dtype == np.float64
    # The noise leaves R² = 0.94 to a linear regression; 5 epochs come close.
    assert r2_score(y_val, predicted) > 0.9 and model.score(x_val, y_val) > 0.9
    assert model.y_mean_ == pytest.approx(2000, abs=30) and model.y_scale_ > 200
    assert len(model.history_) == 5 == model.fit_summary_["epochs_run"]
    assert "val_accuracy" not in model.history_[0] and model.n_features_in_ == x_train.shape[1]
    # The history is in standardised units: its best val_loss is the MSE over y_scale_².
    mse = np.mean((predicted - y_val) ** 2) / model.y_scale_**2
    assert mse == pytest.approx(model.fit_summary_["best_val_loss"], rel=1e-4)
    assert next(model.net_.parameters()).device.type == "cpu"


def test_mlp_regressor_same_seed_same_predictions_and_a_seeded_hold_out():
    x, y, x_test, _ = in_units(600)
    params = dict(hidden_sizes=[8], dropout=0.2, trainer={**SMALL, "max_epochs": 2})
    a, b = MLPRegressor(**params).fit(x, y), MLPRegressor(**params).fit(x, y)
    c = MLPRegressor(**params, random_state=1).fit(x, y)
    assert a.history_ == b.history_ != c.history_
    np.testing.assert_array_equal(a.predict(x_test), b.predict(x_test))
    assert not np.array_equal(a.predict(x_test), c.predict(x_test))
    assert a.y_mean_ != np.mean(y)  # mean of the training rows only, not the held-out ones


def test_mlp_regressor_refuses_labels_in_one_line():
    x, y, _, _ = labelled(100)
    with pytest.raises(ValueError) as info:
        MLPRegressor(trainer=SMALL).fit(x, y)
    assert "MLPRegressor needs a numeric target, not labels such as" in str(info.value)
    assert "use MLPClassifier" in str(info.value) and "\n" not in str(info.value)


# ---- GPU (skipped without one) ----------------------------------------------------------------


@GPU
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_cuda_training_with_mixed_precision(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    net, _, summary = train(settings(device="cuda", precision=precision, max_epochs=8))
    assert summary["device"].startswith("cuda")
    assert summary["precision"] == {"bf16": "bfloat16", "fp16": "float16"}.get(precision, "float32")
    assert summary["best_val_accuracy"] > 0.8
    assert next(net.parameters()).is_cuda


@GPU
def test_cuda_same_seed_same_numbers():
    config = settings(device="cuda", precision="fp32", max_epochs=3)
    net_a, history_a, _ = train(config, dropout=0.2)
    net_b, history_b, _ = train(config, dropout=0.2)
    assert history_a == history_b
    assert same_weights(net_a.state_dict(), net_b.state_dict())


@GPU
def test_cuda_interrupt_then_resume_continues(tmp_path):
    config = settings(device="cuda", checkpoint_dir=str(tmp_path), max_epochs=4)
    net = network(0.2)
    signal_at_step(net, 40, signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        train(config, dropout=0.2, net=net)
    _, history, summary = train(config, dropout=0.2)
    assert summary["resumed_from_epoch"] == pytest.approx(1.6) and len(history) == 4


@GPU
def test_mlp_trained_on_cuda_lives_on_the_cpu_afterwards(tmp_path):
    x_train, y_train, x_val, y_val = labelled()
    model = MLPClassifier(trainer={**SMALL, "device": "cuda"}).fit(x_train, y_train)
    assert model.fit_summary_["device"].startswith("cuda")
    assert next(model.net_.parameters()).device.type == "cpu"
    joblib.dump(model, tmp_path / "model.joblib")
    assert joblib.load(tmp_path / "model.joblib").score(x_val, y_val) > 0.8


@GPU
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_regression_with_mixed_precision(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    x_train, y_train, x_val, y_val = in_units()
    trainer = {**SMALL, "device": "cuda", "precision": precision, "lr": 0.01}
    model = MLPRegressor(hidden_sizes=[16], dropout=0.0, trainer=trainer)
    model.fit(x_train, y_train, eval_set=(x_val, y_val))
    assert model.fit_summary_["precision"] == {"bf16": "bfloat16", "fp16": "float16"}[precision]
    assert model.score(x_val, y_val) > 0.9
