"""Shared fixtures: one Prefect test harness per session (the ephemeral server takes
15-18 s to start cold), a temporary PREFECT_HOME, analytics off, and tiny data sets."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="ganflow-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("GANFLOW_DATA", tempfile.mkdtemp(prefix="ganflow-data-"))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def digits_bundle(tmp_path_factory):
    """The built-in digits data, 5 labels per class, prepared once."""
    from ganflow.tasks.data.bundle import DataSpec, prepare

    return prepare(DataSpec("digits", 5, 0), tmp_path_factory.mktemp("bundle"))
