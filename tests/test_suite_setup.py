"""Fast tier: the suite's own plumbing works (a silent failure here costs minutes)."""

from __future__ import annotations

import os
from pathlib import Path

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
    env = bakery.project_env()
    local = bakery.local_cpu_torch(env)
    if local is None:
        assert env["UV_TORCH_BACKEND"] == "cpu"
    else:
        folder, version = local
        assert "+cpu" in version
        assert str(folder) in env["UV_FIND_LINKS"].split(",")
        constraints = [Path(c).read_text() for c in env["UV_CONSTRAINT"].split()]
        assert f"torch=={version}\n" in constraints
