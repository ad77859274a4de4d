"""Shared fixtures: one Prefect test harness per session (the ephemeral server takes
15-18 s to start cold), a temporary PREFECT_HOME, analytics off, and tiny data sets."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def _scratch_home(name: str, prefix: str) -> None:
    """A temporary folder for `name` unless the caller set one; removed when the run ends
    (a suite's data caches are about 80 MB)."""
    if name not in os.environ:
        os.environ[name] = tempfile.mkdtemp(prefix=prefix)
        atexit.register(shutil.rmtree, os.environ[name], True)


_scratch_home("PREFECT_HOME", "ganflow-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
_scratch_home("GANFLOW_DATA", "ganflow-data-")

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


def tiny_items(n: int, seed: int = 0):
    """Two drawable 'classes' of 28x28 items (a filled block, a tall bar) as a RawData."""
    import numpy as np

    from ganflow.tasks.data.raw import RawData

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.zeros((n, 1, 28, 28), np.uint8)
    x[y == 0, :, 4:24, 4:24] = 220
    x[y == 1, :, 2:26, 11:17] = 220
    return RawData(x, y, x[: n // 4], y[: n // 4], ["T-shirt/top", "Trouser"])


@pytest.fixture(scope="session")
def tiny_captions():
    """A built-in-style captioned set (class, colour, size, position) of 320 + 80 images."""
    from ganflow.tasks.data.captions import CaptionSplit, fashion_captions

    items = tiny_items(400)
    return CaptionSplit(
        fashion_captions(items, True, seed=0, n=320), fashion_captions(items, False, seed=1)
    )


@pytest.fixture
def set_train_s():
    """Rewrites a checkpoint's recorded training time: set_train_s(path, seconds)."""

    def rewrite(path, seconds: float) -> None:
        ckpt = torch.load(path, weights_only=True)
        ckpt["train_s"] = seconds
        torch.save(ckpt, path)

    return rewrite
