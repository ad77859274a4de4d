"""pix2pix (dropout's random stream) and CycleGAN (replay pools) killed mid-run resume to
exactly the weights of an unbroken run."""

import numpy as np
import pytest
import torch

from ganflow.tasks.data.translation import TranslationData
from ganflow.tasks.train.checkpoint import load_checkpoint
from ganflow.tasks.train.trainer import RunConfig
from ganflow.tasks.train.translation import model_config, train

RUN = RunConfig(epochs=2, seed=1, checkpoint_every=3, eval_every=100, log_every=1)


class Kill(Exception):
    pass


def _data(paired: bool) -> TranslationData:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 1, 8, 8), dtype=np.uint8)
    return TranslationData("folder", paired, x, 255 - x, x[:2], 255 - x[:2])


def _flat(obj, prefix=""):
    if isinstance(obj, dict):
        return {k2: v2 for k, v in obj.items() for k2, v2 in _flat(v, f"{prefix}{k}.").items()}
    if isinstance(obj, list | tuple):
        return _flat(dict(enumerate(obj)), prefix)
    return {prefix: obj}


@pytest.mark.parametrize("kind", ["pix2pix", "cyclegan"])
def test_killed_run_resumes_bit_identical(kind, tmp_path):
    data = _data(kind != "cyclegan")
    cfg = model_config(kind, {"ngf": 4, "ndf": 4, "batch_size": 2, "pool_size": 3}
                       if kind == "cyclegan" else {"ngf": 4, "ndf": 4, "batch_size": 2}, 8)  # fmt: skip
    dev = torch.device("cpu")
    unbroken = train(data, kind, cfg, RUN, tmp_path / "unbroken", dev)
    assert unbroken["steps"] == 10

    def kill_at_7(step, total, logs):
        if step >= 7:
            raise Kill

    with pytest.raises(Kill):
        train(data, kind, cfg, RUN, tmp_path / "killed", dev, progress=kill_at_7)
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 6
    resumed = train(data, kind, cfg, RUN, tmp_path / "killed", dev)
    assert resumed["resumed_from"] == 6 and resumed["steps"] == 10
    a = _flat(load_checkpoint(tmp_path / "unbroken" / "checkpoint.pt")["state"])
    b = _flat(load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["state"])
    assert a.keys() == b.keys()
    for k in a:
        same = torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k]
        assert same, k
