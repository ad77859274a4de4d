"""benchmarks/gpu_benchmark.py: the translation families build at a side and train a timed
step on the CPU, with the FLOPs of the step counted."""

import pytest
import torch
from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("gpu_benchmark")


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_translation_families_are_measured(bench, family):
    r = bench.measure(family, 32, 2, 1, torch.device("cpu"), False)
    assert r["family"] == family and r["side"] == 32 and r["batch"] == 2
    assert r["images_per_s"] > 0 and r["tflops"] > 0
    assert r["peak_gib"] is None and r["share_of_peak"] is None  # no card to compare with
