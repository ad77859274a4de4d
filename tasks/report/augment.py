"""The augmentation run's report: real-only against real + synthetic accuracy, CAS beside
its baseline, and a grid of the exported images with one row per class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganflow.tasks.evaluate.cas import CAS_ACCURACY
from ganflow.tasks.export.reader import load_dataset
from ganflow.tasks.report.figures import image_grid, png_data_uri, save_png


def class_rows_png(path: str | Path, class_names: list[str], out: Path, per_row: int = 10) -> Path:
    """A grid of an exported version's images: one row of `per_row` per class."""
    ds = load_dataset(path)
    picked: dict[int, list[int]] = {c: [] for c in range(len(class_names))}
    for i, (_, label, _) in enumerate(ds.rows):
        if len(picked[label]) < per_row:
            picked[label].append(i)
    rows = []
    for c in range(len(class_names)):
        imgs = [ds[i][0] for i in picked[c]]
        blank = torch.full(tuple(ds.manifest["image_shape"]), 255, dtype=torch.uint8)
        rows += imgs + [blank] * (per_row - len(imgs))
    return save_png(image_grid(torch.stack(rows), nrow=per_row), out)


def markdown_report(s: dict[str, Any], embed: bool = True) -> str:
    def pm(m: str) -> str:
        if s[f"{m}_mean"] is None:  # a given version without CAS in its manifest
            return "not scored"
        return f"{100 * s[f'{m}_mean']:.2f} ± {100 * s[f'{m}_std']:.2f} %"

    d = s.get("downstream", {})
    labels = "the teacher's class probabilities" if s.get("soft_labels") else "hard labels"
    lines = [
        f"# Augmentation: {s['data']}, {s['labels_per_class']} labels per class, {s['generator']} generator",
        "",
        f"Seeds {s['seeds']}; {s['per_class']} synthetic images per class; accuracy on the real test set.",
        f"The teacher is the semi-supervised K+1 GAN's classifier; it labels the synthetic and "
        f"the pseudo-labelled images. The downstream classifier ({d.get('classifier', '?')}, "
        f"Adam lr {d.get('lr')}, batches of {d.get('batch_size')}, at least "
        f"{d.get('min_steps')} steps, early stopping on a held-out tenth, at most "
        f"{d.get('max_seconds')} s) learns from {labels}.",
        "",
        "| training data | accuracy (mean ± std) |",
        "|---|---|",
        f"| real only ({s['labels_per_class']} per class) | {pm('real_only_accuracy')} |",
        f"| real + pseudo-labelled real (the unlabelled pool, no generator) | {pm('real_plus_pseudo_accuracy')} |",
        f"| real + synthetic | {pm('real_plus_synthetic_accuracy')} |",
        f"| synthetic only | {pm('synthetic_only_accuracy')} |",
        f"| the teacher itself | {pm('teacher_accuracy')} |",
        f"| synthetic only, CAS's recipe | {pm(CAS_ACCURACY)} |",
        f"| as many real images (CAS's baseline) | {pm('cas_real_accuracy')} |",
        "",
        f"Gain from the synthetic data: {100 * s['gain_mean']:+.2f} points; real + "
        f"pseudo-labelled real is {100 * s['gap_to_pseudo_mean']:+.2f} points above it.",
        "",
        "Exported versions: " + ", ".join(f"`{e}`" for e in s["export_paths"]),
        "",
    ]
    pic = Path(s.get("samples_png", ""))
    if pic.is_file():
        lines += [
            "## Exported samples, one row per class (first seed)",
            "",
            f"![exported samples]({png_data_uri(pic) if embed else pic.name})",
            "",
        ]
    return "\n".join(lines)
