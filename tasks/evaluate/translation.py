"""Scores of image-to-image translation, each beside the trivial baselines.

Paired tasks (ground truth known): L1, PSNR and SSIM of the output against the target,
and FID/KID of the outputs to the real target domain. Unpaired tasks, with no truth to
compare with:
  realism           FID/KID of the translations to the real target images;
  domain changed    the share of translations a classifier trained on real A against real B
                    (their training images) reads as B;
  content kept      SSIM between the greyscale input and its translation, the cycle L1, and
                    where both domains have classes (the built-in tasks) the classes a
                    classifier trained on real B reads in the translations (the analogue of
                    the papers' FCN score), beside its accuracy on real B and untranslated A.
FID/KID are computed in the target domain classifier's features where B has classes, else
in the FID Inception network's (label-free: any folder of photographs); the protocol names
them. Images are uint8 (N, C, S, S); every number is a float64 mean over the test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganflow.tasks.data.translation import TranslationData, resize_array
from ganflow.tasks.evaluate.extractors import Extractor, domain_extractor, inception_extractor
from ganflow.tasks.evaluate.metrics import fid_from_features, kernel_inception_distance

L1, PSNR, SSIM, FID, KID = "l1", "psnr", "ssim", "fid", "kid"
TARGET_RATE, SSIM_INPUT = "target_domain_rate", "ssim_to_input"
CONTENT, CONTENT_REAL_B, CONTENT_SOURCE, CYCLE_L1 = (
    "content_accuracy",
    "content_accuracy_real_b",
    "content_accuracy_source",
    "cycle_l1",
)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x.double() / 255.0 if x.dtype == torch.uint8 else x.double()


def l1_error(out: torch.Tensor, target: torch.Tensor) -> float:
    """Mean |out - target| with images in [0, 1]."""
    return float((_unit(out) - _unit(target)).abs().mean())


def psnr(out: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over images of 10 log10(1 / MSE) (peak 1); an exact copy counts as 100 dB."""
    mse = (_unit(out) - _unit(target)).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(1.0 / mse.clamp(min=1e-10))).mean())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g /= g.sum()
    return g[:, None] * g[None, :]  # (size, size), sums to 1


def ssim(out: torch.Tensor, target: torch.Tensor, window: int = 11) -> float:
    """SSIM (Wang et al. 2004): Gaussian window (11, sigma 1.5), K1 0.01, K2 0.03, peak 1,
    over the valid positions of each channel, averaged over channels and images."""
    x, y = _unit(out), _unit(target)
    c = x.shape[1]
    w = _gaussian_window(min(window, x.shape[-1])).expand(c, 1, -1, -1).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def distribution_scores(ext: Extractor, out: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """FID and KID (mean) of the outputs to real target images in the extractor's features."""
    f_out, f_real = ext.features(out), ext.features(real, keep=True)
    return {
        FID: fid_from_features(f_real, f_out),
        KID: kernel_inception_distance(f_real, f_out, subsets=50)[0],
    }


def accuracy(ext: Extractor, x: torch.Tensor, y: np.ndarray) -> float:
    return float((ext.probs(x).argmax(1) == y).mean())


def grey(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, S, S) -> (N, 1, S, S) float in [0, 1]: the luminance (ITU-R 601)."""
    u = _unit(x)
    if u.shape[1] == 1:
        return u
    w = torch.tensor([0.299, 0.587, 0.114], dtype=u.dtype)[None, :, None, None]
    return (u * w).sum(1, keepdim=True)


def target_extractor(
    data: TranslationData, device: str, progress: bool = True, max_seconds: float = 80.0
) -> tuple[Extractor | None, str]:
    """(the features FID/KID are computed in, why these): the target domain's classifier
    (cached by content; also the content classifier) where B has classes, else the FID
    Inception network; (None, why) where neither is at hand."""
    if data.target is not None:
        ext = domain_extractor(
            data.target, data.target_name, device, progress=progress, max_seconds=max_seconds
        )
        return ext, "the target domain's classifier"
    ext, how = inception_extractor(device=device)
    if ext is None:
        return None, f"none: the target domain has no classes and {how}"
    ext.info["why"] = "the target domain has no classes to train a domain classifier on"
    return ext, "the target domain has no classes"


JUDGE_PER_DOMAIN = 1000  # at most this many training images of each domain teach the judge


@dataclass
class DomainJudge:
    """Logistic regression of real A (0) against real B (1) on an extractor's features,
    divided by one scale (their mean norm on the training images, so that C means the same
    in any feature space)."""

    ext: Extractor
    model: Any  # sklearn LogisticRegression
    scale: float
    info: dict[str, Any]

    def target_rate(self, x: torch.Tensor, domain: int = 1) -> float:
        """The share of images x (uint8 (N, C, S, S)) read as `domain` (1: B, 0: A)."""
        return float((self.model.predict(self.ext.features(x) / self.scale) == domain).mean())


def domain_judge(
    data: TranslationData, ext: Extractor, test_a: torch.Tensor, test_b: torch.Tensor
) -> DomainJudge:
    """A classifier of real A against real B, trained on (up to JUDGE_PER_DOMAIN of each)
    training images at the side of the test images test_a, test_b (uint8 (N, C, S, S), the
    images the translations are scored on), in the FID features ext, and tested on those:
    it says whether a translation left its domain."""
    from sklearn.linear_model import LogisticRegression

    side, c = test_b.shape[-1], test_b.shape[1]

    def at_side(x: np.ndarray) -> torch.Tensor:
        pick = np.sort(np.random.default_rng(0).permutation(len(x))[:JUDGE_PER_DOMAIN])
        return _as_channels(torch.from_numpy(resize_array(x[pick], side)), c)

    a, b = at_side(data.train_a), at_side(data.train_b)
    f = np.concatenate([ext.features(a, keep=True), ext.features(b, keep=True)])
    scale = float(np.linalg.norm(f, axis=1).mean()) or 1.0
    y = np.repeat([0, 1], [len(a), len(b)])
    model = LogisticRegression(C=1.0, max_iter=2000).fit(f / scale, y)
    judge = DomainJudge(ext, model, scale, {})
    right_a = 1 - judge.target_rate(_as_channels(test_a, c))
    judge.info = {"name": f"logistic regression on {ext.name} features",
                  "trained_on": [len(a), len(b)],
                  "test_accuracy": 0.5 * (right_a + judge.target_rate(test_b))}  # fmt: skip
    return judge


def paired_scores(
    out: torch.Tensor, target: torch.Tensor, ext: Extractor | None
) -> dict[str, float | None]:
    res: dict[str, float | None] = {
        L1: l1_error(out, target),
        PSNR: psnr(out, target),
        SSIM: ssim(out, target),
    }
    dist = distribution_scores(ext, out, target) if ext is not None else {FID: None, KID: None}
    return {**res, **dist}


def unpaired_scores(
    out: torch.Tensor,
    cycle: torch.Tensor | None,
    source: torch.Tensor,
    real_b: torch.Tensor,
    labels_a: np.ndarray | None,
    labels_b: np.ndarray | None,
    ext: Extractor | None,
    judge: DomainJudge | None = None,
    target_domain: int = 1,
) -> dict[str, float | None]:
    """out = G(a) (N, C_b, S, S), cycle = F(G(a)) (or None: the identity mapping, whose
    cycle is exact), source = a, real_b = real test images of B; judge: domain_judge's
    classifier of A against B, target_domain the class it should read in out (1: B; 0 where
    the translation runs from B to A)."""
    res: dict[str, float | None] = {
        TARGET_RATE: judge.target_rate(out, target_domain) if judge is not None else None,
        SSIM_INPUT: ssim(grey(out), grey(source)),
        CYCLE_L1: l1_error(cycle, source) if cycle is not None else 0.0,
        CONTENT: None,
        CONTENT_REAL_B: None,
        CONTENT_SOURCE: None,
        FID: None,
        KID: None,
    }
    if ext is None:
        return res
    res.update(distribution_scores(ext, out, real_b))
    if labels_a is not None and labels_b is not None:
        src = (
            source
            if source.shape[1] == real_b.shape[1]
            else source.expand(-1, real_b.shape[1], -1, -1)
        )
        res[CONTENT] = accuracy(ext, out, labels_a)
        res[CONTENT_REAL_B] = accuracy(ext, real_b, labels_b)
        res[CONTENT_SOURCE] = accuracy(ext, src, labels_a)
    return res


def protocol(
    ext: Extractor | None, why: str, n: int, judge: DomainJudge | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"test_images": n}
    if ext is None:
        out["features"] = why
    else:
        out["features"] = f"{ext.name} ({why})"
        out["extractor"] = {k: v for k, v in ext.info.items()
                            if k in ("test_accuracy", "trained", "version", "cache", "file")}  # fmt: skip
    if judge is not None:
        out["domain_judge"] = judge.info
    return out


def _test_side(x: np.ndarray, size: int) -> torch.Tensor:
    """Test images at the side the networks see (resized where stored at another side)."""
    return torch.from_numpy(x if x.shape[-1] == size else resize_array(x, size))


def _as_channels(x: torch.Tensor, c: int) -> torch.Tensor:
    """The identity mapping's output in the target's channels (grey <-> colour)."""
    if x.shape[1] == c:
        return x
    return (
        x.expand(-1, c, -1, -1).contiguous()
        if x.shape[1] == 1
        else x.float().mean(1, keepdim=True).round().to(x.dtype)
    )


def score_translation(
    data: TranslationData,
    checkpoints: dict[str, str],
    device: str = "cpu",
    max_test: int = 10_000,
    progress: bool = True,
) -> dict[str, Any]:
    """Every trained kind (kind -> checkpoint) and the baselines on the test images:
    {'model': scores of the main model, 'baselines': {'identity': ..., 'l1_unet': ...},
    'protocol': ..., 'examples': {name: uint8 (8, C, S, S)}}. The main model is pix2pix or
    cyclegan, whichever was trained; 'l1-unet' is the paired baseline."""
    from ganflow.models.image_batches import translate_images
    from ganflow.tasks.train.checkpoint import load_run

    runs = {k: load_run(p, device) for k, p in checkpoints.items()}
    size = int(next(iter(runs.values())).image_shape[-1])
    n_a, n_b = min(max_test, len(data.test_a)), min(max_test, len(data.test_b))
    a, b = _test_side(data.test_a[:n_a], size), _test_side(data.test_b[:n_b], size)
    if min(n_a, n_b) >= 2:
        ext, why = target_extractor(data, device, progress)
    else:  # a covariance and an unbiased MMD need two images of each domain
        ext, why = (
            None,
            f"none: FID/KID need 2 test images of each domain, there are {n_a} and {n_b}",
        )
    judge = domain_judge(data, ext, a, b) if "cyclegan" in runs and ext is not None else None
    labels_a = data.labels.get("test_a")
    labels_b = data.labels.get("test_b")
    labels_a = labels_a[:n_a] if labels_a is not None else None
    labels_b = labels_b[:n_b] if labels_b is not None else None
    out: dict[str, Any] = {"baselines": {}, "examples": {"input": a[:8], "target": b[:8]}}
    identity = _as_channels(a, b.shape[1])
    if "cyclegan" not in runs:  # pix2pix; CycleGAN is scored as unpaired on any data
        out["baselines"]["identity"] = paired_scores(identity, b, ext)
    else:
        out["baselines"]["identity"] = unpaired_scores(
            identity, None, a, b, labels_a, labels_b, ext, judge
        )
    for kind, run in runs.items():
        if kind == "cyclegan":
            fake_b = translate_images(run.modules["G_ab"], a)
            cycle = translate_images(run.modules["G_ba"], fake_b)
            fake_a = translate_images(run.modules["G_ba"], b)
            back_b = translate_images(run.modules["G_ab"], fake_a)
            scores = unpaired_scores(fake_b, cycle, a, b, labels_a, labels_b, ext, judge)
            scores[CYCLE_L1] = 0.5 * (scores[CYCLE_L1] + l1_error(back_b, b))  # type: ignore[operator]
            out["examples"].update(cyclegan=fake_b[:8], cycle=cycle[:8], reverse=fake_a[:8])
            out["model"] = scores
            if data.target is None:  # label-free scores hold both ways: B -> A as well
                back = unpaired_scores(fake_a, back_b, b, a, None, None, ext, judge, 0)
                ident = unpaired_scores(_as_channels(b, a.shape[1]), None, b, a, None, None,
                                        ext, judge, 0)  # fmt: skip
                out["reverse"] = {"model": back, "identity": ident}
        else:
            fake_b = translate_images(run.modules["G"], a)
            scores = paired_scores(fake_b, b, ext)
            out["examples"][kind] = fake_b[:8]
            if kind == "pix2pix":
                out["model"] = scores
            else:
                out["baselines"]["l1_unet"] = scores
    out["protocol"] = protocol(ext, why, n_a, judge)
    return out
