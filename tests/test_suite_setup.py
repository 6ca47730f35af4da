"""Fast tier: the suite's own plumbing works (a silent failure here costs minutes)."""

from __future__ import annotations

import os
import re

import pytest

import bakery


def test_slow_tests_sharing_the_project_run_on_one_worker(request):
    """With xdist's loadgroup, each worker that runs a user of `baked_project` sets one up.

    The group lives in the node id; pytest 9 stopped honouring how pytest-xdist 3.8 sets
    it, which silently gave every worker its own `make setup` (hence pytest 8.4).
    """
    if not os.environ.get("PYTEST_XDIST_WORKER") or not request.config.getvalue("loadgroup"):
        pytest.skip("only meaningful under `pytest -n N --dist loadgroup` (make test)")
    shared = [i for i in request.session.items if "baked_project" in i.fixturenames]
    ungrouped = [i.nodeid for i in shared if not i.nodeid.endswith("@baked_project")]
    assert not ungrouped


def test_setup_never_downloads_a_cuda_torch():
    """`make setup` gets a TORCH_BACKEND: the lock's PyPI torch (CUDA on Linux) is replaced."""
    env = bakery.project_env()
    local = bakery.local_cpu_torch(env)
    if local is None:
        assert env["TORCH_BACKEND"] == "cpu"
    else:
        folder, version = local
        assert "+cpu" in version and env["TORCH_BACKEND"] == str(folder)


def test_the_local_cpu_wheel_is_the_locked_torch():
    """The tests install torch offline from the local wheel: it must be the version uv.lock pins
    (scripts/lock_template.py --torch VERSION moves the pin)."""
    local = bakery.local_cpu_torch(os.environ)
    if local is None:
        pytest.skip("no local CPU wheel of torch here: the tests take PyTorch's CPU index")
    lock = (bakery.TEMPLATE_DIR / "uv.lock").read_text(encoding="utf-8")
    locked = re.findall(r'\[\[package\]\]\nname = "torch"\nversion = "([^"]+)"', lock)
    assert locked == [local[1].split("+")[0]]
