"""The metrics of stored samples (or of the real-vs-real floor: a held-out part of the real
training set, never seen by the extractor's classifier, with the same sample count: the
values a perfect generator would get) against a data set's real test set, each result with
its protocol.

    score(p, samples, which) -> {fid, kid_mean, ..., protocol} for "samples" or "floor"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ganflow.tasks.data.sources import SourceOptions
from ganflow.tasks.evaluate import metrics as M
from ganflow.tasks.evaluate.cas import classification_accuracy_score
from ganflow.tasks.evaluate.extractors import (
    Extractor,
    inception_extractor,
    reference_extractor,
    stratified_subset,
)
from ganflow.tasks.evaluate.protocol import EvalParams, data_name, device_of, load_reference
from ganflow.tasks.evaluate.samples import draw_samples
from ganflow.tasks.io import DATA_DIR, digest, read_keyed_json, write_json


def distribution_metrics(
    ext: Extractor, x_real: torch.Tensor, x_fake: torch.Tensor, p: EvalParams
) -> dict[str, Any]:
    """FID, KID, IS (when the extractor has a classifier head), precision/recall, density/coverage."""
    fr, ff = ext.features(x_real, keep=True), ext.features(x_fake)
    out: dict[str, Any] = {M.FID: M.fid_from_features(fr, ff)}
    out[M.KID_MEAN], out[M.KID_STD] = M.kernel_inception_distance(
        fr, ff, p.kid_subsets, p.kid_subset_size, p.seed
    )
    if ext.head is not None:
        # 10 splits (Salimans et al.), fewer for a set of under 10 images (a small folder)
        splits = max(1, min(10, len(x_fake)))
        out[M.IS_MEAN], out[M.IS_STD] = M.inception_score(ext.probs(x_fake), splits, p.seed)
    else:
        out[M.IS_MEAN] = out[M.IS_STD] = None
    out.update(M.manifold_metrics(fr, ff, k_pr=3, k_dc=5, cache_dir=DATA_DIR / "cache" / "radii"))
    return out


def _protocol(ext: Extractor, p: EvalParams, n_real: int, n_fake: int) -> dict[str, Any]:
    return {
        "extractor": ext.info,
        "real": {"split": "test", "count": n_real},
        "fake_count": n_fake,
        "kid": {
            "subsets": p.kid_subsets,
            "subset_size": min(p.kid_subset_size, n_real, n_fake),
            "degree": 3,
            "coef": 1.0,
            "gamma": "1/d",
            "seed": p.seed,
        },
        "is": {"splits": 10, "seed": p.seed, "probabilities": f"softmax of {ext.name}"}
        if ext.head is not None
        else {"skipped": f"{ext.name} has no classifier head"},
        "precision_recall_k": 3,
        "density_coverage_k": 5,
        "precision": "float64",
    }


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
    raw, device = load_reference(p), device_of(p)
    name = data_name(p)
    ext, hold = reference_extractor(
        raw, name, device, min_steps=p.extractor_steps, max_seconds=p.extractor_seconds
    )
    stored = torch.load(samples_path, map_location="cpu", weights_only=True)
    x_test, y_test = torch.from_numpy(raw.test_x), torch.from_numpy(raw.test_y)
    if which == "samples":
        x_fake, y_fake, info = stored["x"], stored["y"], dict(stored["info"])
        if not raw.labelled:  # no classes to train or test a CAS classifier on
            y_fake = None
        elif y_fake is None and info.get("source") == "checkpoint":
            y_fake = torch.from_numpy(ext.probs(x_fake).argmax(1))
    elif which == "floor":  # the real images CAS's real baseline is trained on, too
        key, path = _floor_cache(p, ext, len(stored["x"]))
        hit = read_keyed_json(path, key)
        if hit is not None:
            hit["result"]["protocol"]["cache"] = {"path": str(path), "hit": True}
            return hit["result"]
        pick = hold[stratified_subset(raw.train_y[hold], len(stored["x"]), p.seed)]
        x_fake, y_fake = torch.from_numpy(raw.train_x[pick]), torch.from_numpy(raw.train_y[pick])
        info = {
            "source": "real training images held out from the extractor, with the real class mix",
            "count": len(pick),
            "seed": p.seed,
            "labels": "true labels",
        }
    else:
        raise ValueError(f"which must be samples or floor, got {which!r}")
    out = distribution_metrics(ext, x_test, x_fake, p)
    conditioned = str(info.get("labels", "")).startswith("the condition")
    if which == "samples" and conditioned and y_fake is not None and ext.head is not None:
        # the share of conditional samples the domain classifier reads as their condition
        read = torch.from_numpy(ext.probs(x_fake).argmax(1))
        out[M.CLASS_CONSISTENCY] = float((read == y_fake.long()).double().mean())
    protocol = _protocol(ext, p, len(x_test), len(x_fake))
    protocol.update(data=name, samples=info, image_shape=list(raw.test_x.shape[1:]))
    out["cas_accuracy"] = out["real_accuracy"] = None
    if p.cas and y_fake is not None:
        cas = classification_accuracy_score(
            x_fake,
            y_fake,
            torch.from_numpy(raw.train_x[hold]),
            torch.from_numpy(raw.train_y[hold]),
            x_test,
            y_test,
            len(raw.class_names),
            p.seed,
            device,
            p.cas_steps,
            which == "samples",
            p.cas_seconds,
        )
        protocol["cas"] = cas.pop("protocol")
        out.update(cas)
    else:
        protocol["cas"] = {
            "skipped": "switched off"
            if not p.cas
            else ("the samples carry no labels" if raw.labelled else "the data set has no classes")
        }
    if ext.info.get("kind") == "inception":
        inc, how = None, "the main extractor is Inception already"
    else:
        inc, how = _inception(p, device)
    protocol["inception"] = {"used": inc is not None, "how": how}
    if inc is not None:
        res = distribution_metrics(inc, x_test, x_fake, p)
        out["inception"] = res
        protocol["inception"]["protocol"] = _protocol(inc, p, len(x_test), len(x_fake))
    out["protocol"] = protocol
    if which == "floor":
        protocol["cache"] = {"path": str(path), "hit": False}
        write_json(path, {"key": key, "result": out})
    return out


FLOOR_VERSION = 1


def _floor_cache(p: EvalParams, ext: Extractor, n: int) -> tuple[str, Path]:
    """The floor depends only on the reference data, the extractor and these settings: its
    result is kept under their hash, so a second evaluation against the same data reuses it."""
    settings = {
        "version": FLOOR_VERSION,
        "extractor": {k: v for k, v in ext.info.items() if k != "cache"},
        "count": n,
        **{k: getattr(p, k) for k in ("seed", "kid_subsets", "kid_subset_size", "cas", "cas_steps",
                                      "cas_seconds", "inception", "inception_weights")},
    }  # fmt: skip
    key = digest(json.dumps(settings, sort_keys=True, default=str))
    return key, DATA_DIR / "cache" / "floor" / f"{key[:32]}.json"


def score_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    data: str,
    seed: int = 0,
    num_samples: int = 10_000,
    device: str = "auto",
    source: SourceOptions | None = None,
) -> dict[str, Any]:
    """A trained run's samples under the evaluation protocol (as `ganflow evaluate`, without
    CAS): the distribution metrics against the test set, the real-vs-real floor beside them
    under "floor", and a grid of samples (a conditional run's: a column per class)."""
    from ganflow.tasks.report.figures import image_grid, save_png

    src = source or SourceOptions()
    p = EvalParams(
        checkpoint=str(checkpoint),
        data=data,
        data_root=src.root,
        download=src.download,
        image_size=src.image_size,
        channels=src.channels,
        seed=seed,
        cas=False,
        device=device,
        inception="off",
    )
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
