"""Sample-quality evaluation as plain steps: a generator checkpoint (or a folder of images)
against a data set's real test set, with the real-vs-real floor beside it.

    extractor(p)             -> {cache path, info}           the cached domain classifier
    draw_samples(p, run_dir) -> {path of samples.pt, info}   N generated (or read) images
    score(p, samples, which) -> {fid, kid_mean, ..., protocol} for "samples" or "floor"

The floor scores a held-out part of the real training set (never seen by the extractor's
classifier) against the same test set, with the same sample count: the values a perfect
generator would get. Every result carries its protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.models.config import Config, ConfigError, param
from ganflow.models.registry import CONDITION
from ganflow.tasks.data.folders import read_sample_folder
from ganflow.tasks.data.sources import DataError, RawData, SourceOptions, load_source
from ganflow.tasks.evaluate import metrics as M
from ganflow.tasks.evaluate.cas import classification_accuracy_score
from ganflow.tasks.evaluate.extractors import (
    Extractor,
    cached_holdout,
    domain_extractor,
    inception_extractor,
)
from ganflow.tasks.io import save_torch
from ganflow.tasks.train.checkpoint import load_checkpoint, load_run
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
    image_size: int = param(32, "folder reference only: resize images to this size")
    channels: int = param(3, "folder reference only: 1 = greyscale, 3 = RGB", choices=(1, 3))
    num_samples: int | None = param(
        None, "samples scored (default: as many as the test set has, at most 10,000)"
    )
    seed: int = param(0, "sampling noise, KID subsets, IS shuffle, CAS classifiers")
    labels: str = param("run", "labels for CAS of generated images: run (the run's own) | domain",
                        choices=("run", "domain"))  # fmt: skip
    floor: bool = param(True, "also score real vs real (the floor)")
    cas: bool = param(True, "train-on-synthetic-test-on-real")
    cas_steps: int = param(1500, "at least this many steps (and 5 epochs) for each CAS classifier")
    extractor_steps: int = param(
        3000, "at least this many steps (and 10 epochs) for the domain classifier"
    )
    inception: str = param("auto", "Inception features: auto (on CUDA, when weights are offline) | on | off",
                           choices=("auto", "on", "off"))  # fmt: skip
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
        for name in ("cas_steps", "extractor_steps", "kid_subsets", "kid_subset_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")


def _device(p: EvalParams) -> str:
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


def load_reference(p: EvalParams) -> RawData:
    opts = SourceOptions(
        root=p.data_root, download=p.download, image_size=p.image_size, channels=p.channels
    )
    return load_source(data_name(p), opts)


def extractor(p: EvalParams) -> dict[str, Any]:
    """Train or load the domain classifier; returns its protocol info (with the cache path)."""
    raw = load_reference(p)
    return domain_extractor(
        raw, data_name(p), _device(p), progress=True, min_steps=p.extractor_steps
    ).info


def sample_count(p: EvalParams, raw: RawData) -> int:
    n = p.num_samples if p.num_samples is not None else min(10_000, len(raw.test_y))
    if n < 10:
        raise ValueError(f"at least 10 samples are needed to score a generator, got {n}")
    return n


@torch.no_grad()
def _generate(
    p: EvalParams, raw: RawData, n: int, device: str
) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """n images of a trained run of any family that can sample (the registry's), with the
    labels CAS trains on: the run's own (`labels="run"`: the condition a conditional run
    was given, balanced over the classes, or a K+1 GAN's own classifier's prediction), or
    none (`labels="domain"`, or a run whose samples carry none: the domain classifier's)."""
    if p.labels not in ("run", "domain"):
        raise ValueError(f"labels must be run or domain, got {p.labels!r}")
    run = load_run(p.checkpoint, device)
    fam = run.family
    why = (
        fam.why_not_sampled(run)
        if fam.sample is not None
        else f"{fam.title}, which makes no images"
    )
    if why is not None:
        raise DataError(f"{p.checkpoint} cannot be scored: it is {why}")
    if tuple(run.image_shape) != tuple(raw.train_x.shape[1:]):
        raise DataError(
            f"{p.checkpoint} makes {tuple(run.image_shape)} images but {data_name(p)} has "
            f"{tuple(raw.train_x.shape[1:])}: name the data set it was trained on with --data"
        )
    g = torch.Generator().manual_seed(p.seed)
    k, conditional = max(1, len(run.class_names)), fam.conditional(run)
    xs, ys = [], []
    for i in range(0, n, 500):
        m = min(500, n - i)
        labels = torch.arange(i, i + m) % k if conditional else None
        x, y, _ = fam.sample(run, m, labels, g)
        xs.append(x)
        ys.append(y)
    x = torch.cat(xs)
    info = {"source": "checkpoint", "path": str(p.checkpoint), "family": fam.name, "kind": run.kind,
            "step": run.step, "count": n, "seed": p.seed}  # fmt: skip
    how = fam.labels(run)
    if p.labels == "run" and how is not None:
        y = torch.cat(ys)
        info["labels"] = ("the condition each image was drawn with (balanced over the classes)"
                          if how == CONDITION else "argmax of the run's own classifier")  # fmt: skip
    else:
        y = None  # labelled by the domain classifier in `score`
        info["labels"] = "argmax of the domain classifier"
    return x, y, info


def draw_samples(p: EvalParams, run_dir: str | Path) -> dict[str, Any]:
    """Generate (or read) the samples once and store them in run_dir/samples.pt."""
    if (p.checkpoint is None) == (p.samples is None):
        raise ValueError(
            "give exactly one of a checkpoint (--checkpoint) or a sample folder (--samples)"
        )
    raw = load_reference(p)
    n = sample_count(p, raw)
    if p.checkpoint:
        x, y, info = _generate(p, raw, n, _device(p))
    else:
        c, h, _ = raw.train_x.shape[1:]
        xs, ys = read_sample_folder(p.samples, raw.class_names, h, c)
        x, y = torch.from_numpy(xs), (torch.from_numpy(ys) if ys is not None else None)
        info = {"source": "folder", "path": str(p.samples), "count": len(x), "files_resized_to": [c, h, h],
                "labels": "class folders" if ys is not None else "none (no class folders)"}  # fmt: skip
    path = Path(run_dir) / "samples.pt"
    save_torch(path, {"x": x, "y": y, "info": info})
    return {"path": str(path), "info": info}


def distribution_metrics(
    ext: Extractor, x_real: torch.Tensor, x_fake: torch.Tensor, p: EvalParams
) -> dict[str, Any]:
    """FID, KID, IS (when the extractor has a classifier head), precision/recall, density/coverage."""
    fr, ff = ext.features(x_real), ext.features(x_fake)
    out: dict[str, Any] = {M.FID: M.fid_from_features(fr, ff)}
    out[M.KID_MEAN], out[M.KID_STD] = M.kernel_inception_distance(
        fr, ff, p.kid_subsets, p.kid_subset_size, p.seed
    )
    if ext.head is not None:
        out[M.IS_MEAN], out[M.IS_STD] = M.inception_score(ext.probs(x_fake), 10, p.seed)
    else:
        out[M.IS_MEAN] = out[M.IS_STD] = None
    out.update(M.precision_recall(fr, ff, k=3))
    out.update(M.density_coverage(fr, ff, k=5))
    return out


def _protocol(ext: Extractor, p: EvalParams, n_real: int, n_fake: int) -> dict[str, Any]:
    return {
        "extractor": ext.info, "real": {"split": "test", "count": n_real}, "fake_count": n_fake,
        "kid": {"subsets": p.kid_subsets, "subset_size": min(p.kid_subset_size, n_real, n_fake), "degree": 3,
                "coef": 1.0, "gamma": "1/d", "seed": p.seed},
        "is": {"splits": 10, "seed": p.seed, "probabilities": f"softmax of {ext.name}"} if ext.head is not None
        else {"skipped": f"{ext.name} has no classifier head"},
        "precision_recall_k": 3, "density_coverage_k": 5, "precision": "float64",
    }  # fmt: skip


def _inception(p: EvalParams, device: str) -> tuple[Extractor | None, str]:
    if p.inception == "off":
        return None, "switched off (--inception off)"
    if p.inception == "auto" and not device.startswith("cuda"):
        return (
            None,
            "auto: Inception runs only on a GPU (a few images/s on a CPU); use --inception on to force it",
        )
    return inception_extractor(p.inception_weights, device, p.download)


def score(p: EvalParams, samples_path: str | Path, which: str = "samples") -> dict[str, Any]:
    """Metrics of the stored samples (which="samples") or of the held-out real images
    (which="floor") against the real test set, with their protocol."""
    raw, device = load_reference(p), _device(p)
    name = data_name(p)
    ext = domain_extractor(raw, name, device, min_steps=p.extractor_steps)
    stored = torch.load(samples_path, map_location="cpu", weights_only=True)
    x_test, y_test = torch.from_numpy(raw.test_x), torch.from_numpy(raw.test_y)
    hold = cached_holdout(ext)
    if which == "samples":
        x_fake, y_fake, info = stored["x"], stored["y"], dict(stored["info"])
        if y_fake is None and info.get("source") == "checkpoint":
            y_fake = torch.from_numpy(ext.probs(x_fake).argmax(1))
    elif which == "floor":
        n = min(len(stored["x"]), len(hold))
        pick = np.sort(np.random.default_rng(p.seed).choice(hold, n, replace=False))
        x_fake, y_fake = torch.from_numpy(raw.train_x[pick]), torch.from_numpy(raw.train_y[pick])
        info = {"source": "real training images held out from the extractor", "count": n, "seed": p.seed,
                "labels": "true labels"}  # fmt: skip
    else:
        raise ValueError(f"which must be samples or floor, got {which!r}")
    out = distribution_metrics(ext, x_test, x_fake, p)
    protocol = _protocol(ext, p, len(x_test), len(x_fake))
    protocol.update(data=name, samples=info, image_shape=list(raw.test_x.shape[1:]))
    out["cas_accuracy"] = out["real_accuracy"] = None
    if p.cas and y_fake is not None:
        keep = np.setdiff1d(np.arange(len(raw.train_y)), hold)
        cas = classification_accuracy_score(
            x_fake, y_fake, torch.from_numpy(raw.train_x[keep]), torch.from_numpy(raw.train_y[keep]),
            x_test, y_test, len(raw.class_names), p.seed, device, p.cas_steps, which == "samples",
        )  # fmt: skip
        protocol["cas"] = cas.pop("protocol")
        out.update(cas)
    else:
        protocol["cas"] = {
            "skipped": "switched off" if not p.cas else "the samples carry no labels"
        }
    inc, how = _inception(p, device)
    protocol["inception"] = {"used": inc is not None, "how": how}
    if inc is not None:
        res = distribution_metrics(inc, x_test, x_fake, p)
        out["inception"] = res
        protocol["inception"]["protocol"] = _protocol(inc, p, len(x_test), len(x_fake))
    out["protocol"] = protocol
    return out


def score_checkpoint(checkpoint: str | Path, out_dir: str | Path, data: str, seed: int = 0,
                     num_samples: int = 10_000, device: str = "auto",
                     source: SourceOptions | None = None) -> dict[str, Any]:  # fmt: skip
    """A trained run's samples under the evaluation protocol (as `ganflow evaluate`, without
    CAS): the distribution metrics against the test set, the real-vs-real floor beside them
    under "floor", and a grid of samples (a conditional run's: a column per class)."""
    from ganflow.tasks.report.figures import image_grid, save_png

    src = source or SourceOptions()
    p = EvalParams(checkpoint=str(checkpoint), data=data, data_root=src.root, download=src.download,
                   image_size=src.image_size, channels=src.channels, seed=seed, cas=False,
                   device=device, inception="off")  # fmt: skip
    p.num_samples = min(num_samples, len(load_reference(p).test_y))
    drawn = draw_samples(p, out_dir)
    res = score(p, drawn["path"], "samples")
    res["floor"] = score(p, drawn["path"], "floor")
    stored = torch.load(drawn["path"], map_location="cpu", weights_only=True)
    x, y = stored["x"], stored["y"]
    if y is not None and drawn["info"]["labels"].startswith("the condition"):
        k = int(y.max()) + 1  # labels cycle through the classes: one column per class
        rows = torch.arange(min(len(x) // k, 8) * k).reshape(-1, k).T.flatten()
        grid = image_grid(x[rows], nrow=len(rows) // k)
    else:
        grid = image_grid(x[:64])
    res["samples_png"] = str(save_png(grid, Path(out_dir) / "samples.png"))
    return res
