"""What an evaluation is: its params (what to score, against which data set, how), the
reference data, the cached domain classifier whose features the metrics use, and how many
samples are scored."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ganflow.models.config import Config, ConfigError, param
from ganflow.tasks.data.bundle import recorded_source
from ganflow.tasks.data.sources import DataError, RawData, SourceOptions, load_source
from ganflow.tasks.evaluate.extractors import reference_extractor
from ganflow.tasks.train.checkpoint import load_checkpoint
from ganflow.tasks.train.devices import select_device


@dataclass
class EvalParams(Config):
    checkpoint: str | None = param(
        None, "a trained run's checkpoint.pt: its generator draws the samples"
    )
    samples: str | None = param(
        None, "or a folder of images (one subfolder per class gives CAS labels)"
    )
    data: str | None = param(None, "reference data set (default: the checkpoint's training data)")
    data_root: str | None = param(None, "where the reference data set's files are")
    download: bool = param(False, "allow a torchvision download (needs internet)")
    image_size: int | None = param(
        None, "folder reference: resize images to this side (default: the run's, else 32)"
    )
    channels: int | None = param(
        None,
        "folder reference: 1 = greyscale, 3 = RGB (default: the run's, else 3)",
        choices=(1, 3),
    )
    num_samples: int | None = param(
        None, "samples scored (default: as many as the test set has, at most 10,000)"
    )
    seed: int = param(0, "sampling noise, KID subsets, IS shuffle, CAS classifiers")
    labels: str = param(
        "run",
        "labels for CAS of generated images: run (the run's own) | domain",
        choices=("run", "domain"),
    )
    floor: bool = param(True, "also score real vs real (the floor)")
    cas: bool = param(True, "train-on-synthetic-test-on-real")
    cas_steps: int = param(
        200, "at least this many steps for each CAS classifier (up to 30 epochs, stopped early)"
    )
    cas_seconds: float = param(
        20.0,
        "wall-time budget of each CAS classifier's training past its cas_steps (its schedule fits it)",
    )
    extractor_steps: int = param(
        200, "at least this many steps for the domain classifier (up to 30 epochs, stopped early)"
    )
    extractor_seconds: float = param(
        80.0,
        "wall-time budget of the domain classifier's first training past its extractor_steps (then cached)",
    )
    inception: str = param(
        "auto",
        "Inception features: auto (on CUDA, when weights are offline) | on | off",
        choices=("auto", "on", "off"),
    )
    inception_weights: str | None = param(None, "a TorchScript FID Inception file")
    kid_subsets: int = param(100, "KID: number of subsets")
    kid_subset_size: int = param(1000, "KID: images per subset")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    run_dir: str | None = param(None, "run directory (default: a new data/runs/evaluate-...)")

    def validate(self) -> None:
        if (self.checkpoint is None) == (self.samples is None):
            raise ConfigError(
                "give exactly one of a checkpoint (--checkpoint) or a sample folder (--samples)"
            )
        if self.num_samples is not None and self.num_samples < 10:
            raise ConfigError(
                f"at least 10 samples are needed to score a generator, got {self.num_samples}"
            )
        if not (self.cas_seconds > 0 and self.extractor_seconds > 0):
            raise ConfigError("cas_seconds and extractor_seconds must be positive")
        for name in ("cas_steps", "extractor_steps", "kid_subsets", "kid_subset_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")


def device_of(p: EvalParams) -> str:
    return str(select_device(p.device))


def _checkpoint_info(p: EvalParams) -> dict[str, Any]:
    ckpt = load_checkpoint(p.checkpoint, map_location="cpu")
    return {"fingerprint": ckpt.get("fingerprint", {}), "config": ckpt["config"]}


def data_name(p: EvalParams) -> str:
    if p.data:
        return p.data
    if p.checkpoint:
        source = _checkpoint_info(p)["fingerprint"].get("source")
        if source:
            return source
    raise DataError("name the reference data set with --data (it cannot be read from the input)")


def reference_source(p: EvalParams) -> SourceOptions:
    """Where and how the reference data set is read: the options given, else as the
    checkpoint's run read its data (the same data set only), else the defaults."""
    recorded = SourceOptions()
    if p.checkpoint and (p.data is None or p.data == data_name(p)):
        recorded = recorded_source(_checkpoint_info(p)["fingerprint"])
    return SourceOptions(
        root=p.data_root or recorded.root,
        download=p.download,
        image_size=p.image_size or recorded.image_size,
        channels=p.channels or recorded.channels,
    )


def load_reference(p: EvalParams) -> RawData:
    """The reference data set, read once per process for the same data and options."""
    o = reference_source(p)
    return _load_reference(data_name(p), o.root, o.download, o.image_size, o.channels)


@functools.lru_cache(maxsize=2)
def _load_reference(
    name: str, root: str | None, download: bool, image_size: int, channels: int
) -> RawData:
    opts = SourceOptions(root=root, download=download, image_size=image_size, channels=channels)
    return load_source(name, opts)


def extractor(p: EvalParams) -> dict[str, Any]:
    """Train or load the domain classifier (Inception for a set without classes); returns
    its protocol info (with the cache path)."""
    raw = load_reference(p)
    ext, _ = reference_extractor(
        raw,
        data_name(p),
        device_of(p),
        progress=True,
        min_steps=p.extractor_steps,
        max_seconds=p.extractor_seconds,
    )
    return ext.info


def sample_count(p: EvalParams, raw: RawData) -> int:
    n = p.num_samples if p.num_samples is not None else min(10_000, len(raw.test_y))
    if n < 10:
        raise ValueError(f"at least 10 samples are needed to score a generator, got {n}")
    return n
