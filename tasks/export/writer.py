"""Export of versioned synthetic data sets.

A data set is <root>/<name>/v<N>/:
    images/<NN>_<class>/<id>.png   loads directly with torchvision's ImageFolder: the NN prefix
                                   makes its sorted class order the label order
    labels.csv                     file, label, class_name, source, generator, condition, confidence
    manifest.json                  schema, ganflow version, time, source run, checkpoint SHA-256,
                                   config, data fingerprint, per-class counts, metrics, SHA-256
                                   of every file
    arrays.npz                     optional: images (N, C, H, W) uint8, labels (N,), confidence (N,)
and <root>/<name>/latest -> v<N>, the newest.

A version is written into a hidden temporary directory beside the versions and renamed into
place when complete, so a reader never sees half a data set and a kill or a full disk leaves
no visible version (the next export sweeps such leftovers). Versions are never overwritten.
Images stream through in batches: memory stays flat as N grows (the checksums and a capped
sample kept for metrics are all that accumulates).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import secrets
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ganflow.tasks.export.generators import GeneratorSource, open_generator
from ganflow.tasks.export.layout import (
    DATASETS_DIR,
    SCHEMA_VERSION,
    TMP_PREFIX,
    ExportError,
    ExportOptions,
    check_name,
    class_dir,
    resolve_classes,
    versions,
)
from ganflow.tasks.export.version import VersionWriter
from ganflow.tasks.io import file_sha256, published_version
from ganflow.tasks.progress import Progress


def _sweep_stale(set_dir: Path) -> None:
    """Remove what exports that died left behind (their process is gone): temporary
    version directories and `latest` links."""
    for p in set_dir.glob(f"{TMP_PREFIX}*"):
        try:
            os.kill(int(p.name[len(TMP_PREFIX) :].split("-")[0]), 0)
            continue  # still running
        except PermissionError:
            continue  # running, as another user
        except (ValueError, ProcessLookupError):
            pass
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)


class _Candidates:
    """Drawn images held in memory until the export chooses among them (select confident or
    coverage); VersionWriter's counts, total and add."""

    def __init__(self, k: int) -> None:
        self.counts = [0] * k
        self.parts: list[tuple] = []

    @property
    def total(self) -> int:
        return sum(self.counts)

    def add(self, x: torch.Tensor, y: torch.Tensor, conf: Any, probs: Any = None) -> None:
        self.parts.append((x, y, conf, probs))
        for c in y.tolist():
            self.counts[c] += 1

    def joined(self) -> tuple:
        x, y, conf, probs = zip(*self.parts, strict=True)
        cat = lambda ts: None if ts[0] is None else torch.cat(ts)  # noqa: E731
        return torch.cat(x), torch.cat(y), cat(conf), cat(probs)


def _quotas(counts: list[int], total: int) -> list[int]:
    """How many of each class's candidates to keep so that `total` are kept in the classes'
    proportions (balance natural): the largest remainders round up."""
    n = max(sum(counts), 1)
    exact = [c * total / n for c in counts]
    q = [int(e) for e in exact]
    for c in sorted(range(len(counts)), key=lambda c: q[c] - exact[c])[: total - sum(q)]:
        q[c] += 1
    return q


def _farthest_points(f: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k rows of f chosen greedily, each the farthest from those chosen before (the k-center
    greedy cover of Sener & Savarese 2018), from a random first one."""
    if k >= len(f) or k <= 0:
        return torch.arange(len(f) if k > 0 else 0)
    chosen = [int(torch.randint(len(f), (1,), generator=g))]
    d = ((f - f[chosen[0]]) ** 2).sum(1)
    for _ in range(k - 1):
        i = int(d.argmax())
        chosen.append(i)
        d = torch.minimum(d, ((f - f[i]) ** 2).sum(1))
    return torch.tensor(chosen)


def _coverage_features(x: torch.Tensor) -> torch.Tensor:
    """What coverage measures distance in: the images averaged down to at most 8x8 per
    channel, each feature standardised over the candidates."""
    f = x.float()
    side = f.shape[-1]
    if side > 8:
        f = torch.nn.functional.adaptive_avg_pool2d(f, 8)
    f = f.flatten(1)
    return (f - f.mean(0)) / f.std(0, correction=0).clamp_min(1e-3)


def _choose(w: VersionWriter, cand: _Candidates, opts: ExportOptions, wanted: list[int]) -> None:
    """Keep per_class of each class's candidates (natural: the classes' shares of the total),
    the most confident or a farthest-point cover of them, and write them."""
    x, y, conf, probs = cand.joined()
    total = opts.per_class * len(wanted)
    if opts.balance == "natural":
        quota = _quotas([cand.counts[c] for c in wanted], total)
    else:
        quota = [opts.per_class] * len(wanted)
    g = torch.Generator().manual_seed(opts.seed + 7919)
    for c, q in zip(wanted, quota, strict=True):
        idx = torch.nonzero(y == c).flatten()
        if q == 0 or len(idx) == 0:
            continue
        if opts.select == "confident":
            pick = idx[conf[idx].argsort(descending=True, stable=True)[:q]]
        else:
            pick = idx[_farthest_points(_coverage_features(x[idx]), q, g)]
        pick = pick.sort().values  # in the order drawn
        for s in range(0, len(pick), opts.batch_size):
            i = pick[s : s + opts.batch_size]
            w.add(x[i], y[i], conf[i] if conf is not None else None,
                  probs=probs[i] if probs is not None else None)  # fmt: skip


def _fill(
    w: VersionWriter,
    src: GeneratorSource,
    opts: ExportOptions,
    wanted: list[int],
    progress: Any = None,
    teacher: Any = None,
) -> None:
    """Draw batches until every class has its quota (or the draw budget runs out), and keep
    them as drawn or choose among oversample times as many (opts.select); with a teacher its
    labels, confidences and probabilities replace the source's."""
    title = f"export {w.tmp.parent.name}"
    if opts.select == "drawn":
        _draw(w, src, opts, wanted, title, progress, teacher)
        return
    cand = _Candidates(len(src.class_names))
    more = dataclasses.replace(opts, per_class=opts.per_class * opts.oversample)
    _draw(cand, src, more, wanted, f"{title}: {opts.oversample}x candidates", progress, teacher)
    _choose(w, cand, opts, wanted)


def _draw(
    w: Any,
    src: GeneratorSource,
    opts: ExportOptions,
    wanted: list[int],
    title: str,
    progress: Any = None,
    teacher: Any = None,
) -> None:
    """Draw batches into w (a VersionWriter or _Candidates) until every class has its quota
    (or the draw budget runs out)."""
    k = len(src.class_names)
    quota = torch.zeros(k, dtype=torch.long)
    quota[wanted] = opts.per_class
    total_wanted = opts.per_class * len(wanted)
    natural = opts.balance == "natural"
    g = torch.Generator().manual_seed(opts.seed)
    drawn, budget = 0, opts.max_draws * total_wanted
    bar = Progress(title, total_wanted, "img")
    while w.total < total_wanted and drawn < budget:
        remaining = quota - torch.tensor(w.counts)
        # a conditional source makes exactly what is still missing; another draws whole batches
        n = min(opts.batch_size, total_wanted - w.total) if src.conditional else opts.batch_size
        labels = None
        if src.conditional:  # ask for the classes still short, in proportion to the shortfall
            need = remaining.clamp(min=0) if not natural else quota.clamp(max=1)
            labels = torch.multinomial(need.float(), n, replacement=True, generator=g)
        x, y, conf = src.draw(labels, n, g, label=teacher is None)  # D runs once, not twice
        probs = None
        if teacher is not None:
            y, conf, probs = teacher.label(x)
        drawn += n
        ok = torch.isin(y, torch.tensor(wanted))
        if conf is not None:
            ok &= conf >= opts.min_confidence
        # keep, in order, at most the quota left of each class (natural: of the total)
        idx = []
        left = remaining.clone()
        room = total_wanted - w.total
        for i in torch.nonzero(ok).flatten().tolist():
            c = int(y[i])
            if len(idx) >= room or (not natural and left[c] <= 0):
                continue
            left[c] -= 1
            idx.append(i)
        if idx:
            sel = torch.tensor(idx)
            w.add(x[sel], y[sel], conf[sel] if conf is not None else None,
                  probs=probs[sel] if probs is not None else None)  # fmt: skip
        bar.update(w.total - bar.n)
        if progress is not None:
            progress(w.total, total_wanted)
        if not natural and total_wanted <= drawn < budget and w.total < total_wanted:
            _check_reachable(w, src, opts, wanted, drawn, budget, bar)
    bar.close(done=w.total >= total_wanted)
    if w.total < total_wanted:
        short = [
            f"{src.class_names[c]}: {w.counts[c]}/{opts.per_class}"
            for c in wanted
            if w.counts[c] < opts.per_class
        ]
        raise ExportError(
            f"after {drawn} draws only {w.total} of {total_wanted} images passed "
            f"(confidence >= {opts.min_confidence}); short: {', '.join(short) or 'the total'}. "
            "Lower --min-confidence, use --balance natural, or raise max_draws."
        )


def _check_reachable(
    w: VersionWriter,
    src: GeneratorSource,
    opts: ExportOptions,
    wanted: list[int],
    drawn: int,
    budget: int,
    bar: Progress,
) -> None:
    """Stop early when, at the rate each short class has come so far, its quota would take
    more draws than the budget holds: an unconditional generator that rarely makes a class
    would otherwise draw for the whole budget and fail at its end. A class's rate counts half
    an image more than it has, so that a class not yet seen is judged too."""
    short = []
    for c in wanted:
        missing = opts.per_class - w.counts[c]
        if missing <= 0:
            continue
        rate = (w.counts[c] + 0.5) / drawn  # kept images of class c per draw so far
        if drawn + missing / rate > budget:
            short.append(
                f"{src.class_names[c]} {w.counts[c]}/{opts.per_class} ({100 * rate:.2g} % of draws)"
            )
    if short:
        bar.close(done=False)
        raise ExportError(
            f"balance equal cannot be reached within {budget} draws: after {drawn} draws, "
            f"{', '.join(short)}; use --balance natural, a conditional generator, fewer "
            "images per class or a lower --min-confidence"
        )


def _teacher(teacher: Any, src: GeneratorSource, checkpoint: str | Path, device: str) -> Any:
    """The Teacher that labels the export: the one given (or its checkpoint's), else the run's
    own classifier where it names its samples' classes itself; None: the source's labels."""
    from ganflow.tasks.export.teacher import Teacher

    if teacher is None and src.conditional:
        return None
    if teacher is None:
        own = src.run.family.classifier(src.run) is not None
        teacher = Teacher(checkpoint, device, run=src.run) if own else None
    elif not isinstance(teacher, Teacher):
        teacher = Teacher(teacher, device)
    if teacher is not None and teacher.class_names != src.class_names:
        raise ExportError(
            f"the teacher {teacher.checkpoint} knows the classes {teacher.class_names}; the "
            f"generator's are {src.class_names}"
        )
    return teacher


def ganflow_version() -> str:
    try:
        from importlib.metadata import version

        return version("ganflow")
    except Exception:  # not installed as a distribution
        return "0+unknown"


def export_dataset(
    checkpoint: str | Path,
    name: str,
    opts: ExportOptions | None = None,
    root: str | Path | None = None,
    device: str = "cpu",
    metrics: Any = None,
    progress: Any = None,
    source: Any = None,
    teacher: Any = None,
) -> dict[str, Any]:
    """Export a new version of data set `name` from a trained run; returns {path, version,
    count, per_class, manifest}. `metrics(images, labels, src) -> dict` (optional) scores a
    sample of the export (e.g. CAS, FID) for the manifest. `source`: another source of
    labelled images than the run's sampler (a translated folder), with GeneratorSource's
    fields and fill(writer, progress), which writes all it has. `teacher` (a checkpoint or a
    tasks/export/teacher.Teacher): the classifier that labels the images, each with its class
    probabilities; a run that labels its own samples (the K+1 GAN) is its own teacher."""
    opts = opts or ExportOptions()
    opts.validate()
    root = Path(root) if root else DATASETS_DIR
    set_dir = root / check_name(name)
    q = published_version(set_dir)
    if q is not None:
        raise ExportError(
            f"--root {root} is inside the published data set version {q}: versions are never "
            "written into; give another root"
        )
    src = source if source is not None else open_generator(checkpoint, device)
    teacher = _teacher(teacher, src, checkpoint, device) if source is None else None
    if opts.select == "confident" and source is None and teacher is None:
        raise ExportError(
            f"select confident needs each image's confidence: {src.kind} names the classes "
            "it is asked for; give a --teacher (a semi-supervised run) to label them"
        )
    wanted = resolve_classes(opts.classes, src.class_names)
    set_dir.mkdir(parents=True, exist_ok=True)
    _sweep_stale(set_dir)
    tmp = set_dir / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    t0 = time.monotonic()
    w: VersionWriter | None = None
    try:
        w = VersionWriter(tmp, src, opts, str(Path(checkpoint).parent), teacher is not None)
        if source is not None:
            source.fill(w, progress)
        else:
            _fill(w, src, opts, wanted, progress, teacher)
        w.finish()
        scores = metrics(*w.kept_sample(), src) if metrics is not None else {}
        manifest = _manifest(name, src, opts, checkpoint, w, scores, time.monotonic() - t0)
        if teacher is not None:
            manifest["labelled_by"] = teacher.checkpoint
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        version = _publish(tmp, set_dir)
    except BaseException as e:  # a kill, a full disk, a bad batch: publish nothing
        if w is not None:
            with contextlib.suppress(OSError):  # a full disk fails the last flush as well
                w.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise ExportError(f"the disk under {root} is full; nothing was published") from e
        raise
    path = set_dir / f"v{version}"
    per_class = {src.class_names[c]: w.counts[c] for c in wanted if w.counts[c] or source is None}
    return {
        "path": str(path),
        "name": name,
        "version": version,
        "count": w.total,
        "per_class": per_class,
        "metrics": scores,
        "wall_s": round(time.monotonic() - t0, 2),
        "images_per_s": round(w.total / max(time.monotonic() - t0, 1e-9), 1),
    }


def _manifest(
    name: str,
    src: GeneratorSource,
    opts: ExportOptions,
    checkpoint: str | Path,
    w: VersionWriter,
    scores: dict,
    wall: float,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "ganflow_version": ganflow_version(),
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source_run": str(Path(checkpoint).resolve().parent),
        "checkpoint": str(Path(checkpoint).resolve()),
        "checkpoint_sha256": file_sha256(checkpoint),
        "generator": src.kind,
        "config": src.config,
        "data": {"name": src.data_name, "fingerprint": src.data_fingerprint},
        "class_names": src.class_names,
        "image_shape": list(src.shape),
        "count": w.total,
        "per_class": {src.class_names[c]: n for c, n in enumerate(w.counts) if n},
        "class_dirs": {class_dir(c, n): c for c, n in enumerate(src.class_names)},
        "options": asdict(opts),
        "metrics": scores,
        "wall_s": round(wall, 2),
        "files": w.files,
        "probabilities": w.probabilities,
        **({"captions": w.captions} if w.captioned else {}),
    }


def _publish(tmp: Path, set_dir: Path) -> int:
    """Rename the finished directory to the next free v<N> and point `latest` at it."""
    n = (max(versions(set_dir.parent, set_dir.name), default=0)) + 1
    while True:
        try:
            os.rename(tmp, set_dir / f"v{n}")  # fails if v<N> exists: never overwrites
            break
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            n += 1  # another export took this number meanwhile
    link = set_dir / f"{TMP_PREFIX}{os.getpid()}-latest-{secrets.token_hex(3)}"
    try:
        os.symlink(f"v{n}", link)
        os.replace(link, set_dir / "latest")
    except OSError:  # a filesystem without symlinks: readers fall back to the highest v<N>
        link.unlink(missing_ok=True)
    return n
