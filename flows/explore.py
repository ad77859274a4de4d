"""Flow `explore`: a trained GAN's latent space as DCGAN's section 6 shows it (Radford et al.
2016): a numbered bank of samples, walks between pairs of them (linear and spherical), for a
class-conditional run the class held while the noise walks and the noise held while the class
changes, vector arithmetic on the groups the user names, and each sample beside its nearest
training images in pixels and in the domain classifier's features (does G copy?). Every
picture is a PNG in the run directory and in its report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from prefect.artifacts import create_markdown_artifact

from ganflow.flows.params import param, params_flow
from ganflow.models.config import Config, ConfigError
from ganflow.models.gan.latent import MODES, LatentSpace
from ganflow.models.gan.sampling import sampler
from ganflow.models.images import to_uint8
from ganflow.tasks.evaluate import explore as X
from ganflow.tasks.io import claim_run_dir, write_run_summary
from ganflow.tasks.report.figures import labelled_rows, png_data_uri, save_png
from ganflow.tasks.train.checkpoint import load_run
from ganflow.tasks.train.devices import select_device

NEIGHBOURS_IN = ("both", "pixels", "features", "none")


@dataclass
class ExploreParams(Config):
    checkpoint: str = param("", "a trained GAN's checkpoint.pt (train-gan)")
    bank: int = param(64, "numbered samples drawn first; pairs and groups refer to them")
    pairs: int = param(6, "interpolations: sample 0 to 1, 2 to 3, ... of the bank")
    steps: int = param(10, "images along each walk, both ends included")
    arithmetic: str | None = param(
        None,
        "vector arithmetic: groups joined by ' + ' and ' - ', a group being bank sample "
        "numbers ('3 7 9') or, for a conditional run, a class name; several expressions "
        "separated by ';', e.g. '3 7 - 4 + 11; Sneaker - Sandal + Ankle boot'",
    )
    variants: int = param(9, "images of each arithmetic result (the first without noise)")
    neighbours: int = param(5, "nearest training images shown beside each sample")
    neighbour_samples: int = param(8, "bank samples (the first ones) checked for copies")
    neighbours_in: str = param(
        "both", "pixels | features (the domain classifier's) | both | none",
        choices=NEIGHBOURS_IN,
    )  # fmt: skip
    seed: int = param(0, "noise seed of the bank and the walks")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    run_dir: str | None = param(None, "run directory (default: a new data/runs/explore-...)")

    def validate(self) -> None:
        if not self.checkpoint:
            raise ConfigError("give the GAN's checkpoint (--checkpoint)")
        self.require("at least 1", "pairs", "variants", "neighbours", "neighbour_samples")
        self.require("not negative", "seed")
        if self.bank < 2 or self.steps < 2:
            raise ConfigError(f"bank and steps must be at least 2, got {self.bank}, {self.steps}")
        if 2 * self.pairs > self.bank or self.neighbour_samples > self.bank:
            raise ConfigError(
                f"the bank of {self.bank} samples holds {self.bank // 2} pairs and "
                f"{self.bank} samples to check; asked for {self.pairs} and {self.neighbour_samples}"
            )
        if self.neighbours_in not in NEIGHBOURS_IN:
            raise ConfigError(f"neighbours_in must be one of {NEIGHBOURS_IN}")


def open_space(checkpoint: str, device: str) -> tuple[Any, LatentSpace]:
    """(the run, its generator's latent space); a run that is not an image GAN is refused."""
    if not Path(checkpoint).is_file():
        raise ConfigError(f"checkpoint {checkpoint} does not exist")
    run = load_run(checkpoint, device)
    if run.family.name != "gan":
        raise ConfigError(
            f"{checkpoint} is {run.family.title}: explore walks the latent space of a train-gan "
            "run (family gan)"
        )
    if len(run.image_shape) != 3:
        raise ConfigError(f"{checkpoint} makes 2-D points, not images: nothing to picture")
    return run, LatentSpace(sampler(run.modules), run.config.z_dim, run.image_shape)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(-1, 1) + 1) / 2


def _picture(rows: list[tuple[str, torch.Tensor]], path: Path) -> str:
    return str(save_png(labelled_rows([(n, _unit(x)) for n, x in rows]), path))


def run_explore(p: ExploreParams, steps: Any = None) -> dict[str, Any]:
    """The flow's body: the pictures, metrics.json (their paths, the neighbours' distances)
    and report.md in the run directory."""
    p.validate()
    run, space = open_space(p.checkpoint, str(select_device(p.device)))
    names = list(run.class_names)
    k = len(names)
    # every expression is parsed before anything is drawn or written
    exprs = [e.strip() for e in (p.arithmetic or "").split(";") if e.strip()]
    bank = X.draw_bank(space, p.bank, k, p.seed)
    parsed = [X.parse_arithmetic(e, bank, names) for e in exprs]
    reference = _reference(p, bank) if p.neighbours_in != "none" else None
    run_dir = claim_run_dir(p.run_dir, "explore", config=p.to_dict())
    out: dict[str, Any] = {"checkpoint": p.checkpoint, "run_dir": str(run_dir), "pictures": {}}
    pics = out["pictures"]
    per_row = 16
    pics["bank"] = _picture(
        [(f"{i}-{min(i + per_row, p.bank) - 1}", bank.images[i : i + per_row])
         for i in range(0, p.bank, per_row)],
        run_dir / "bank.png",
    )  # fmt: skip
    pairs = [(2 * i, 2 * i + 1) for i in range(p.pairs)]
    for mode in MODES:
        rows = X.interpolation_rows(space, bank, pairs, p.steps, mode)
        pics[f"walk_{mode}"] = _picture(
            [(f"{i} -> {j}", r) for (i, j), r in zip(pairs, rows, strict=True)],
            run_dir / f"walk_{mode}.png",
        )
    if space.conditional:
        held = X.class_held_rows(space, k, p.steps, p.seed)
        pics["class_held"] = _picture(
            list(zip(names, held, strict=True)), run_dir / "class_held.png"
        )
        grid = X.noise_held_rows(space, k, min(p.pairs, 8), p.seed)
        pics["noise_held"] = _picture(
            [(f"z {r}", grid[r]) for r in range(len(grid))], run_dir / "noise_held.png"
        )
        out["noise_held_columns"] = names
    out["arithmetic"] = []
    for n, (expr, terms) in enumerate(zip(exprs, parsed, strict=True), 1):
        means, result = X.arithmetic(space, bank, terms, p.variants, p.seed)
        rows = [(f"{'+' if t.sign > 0 else '-'} {t.text}", bank.images[t.indices[:8]])
                for t in terms]  # fmt: skip
        rows += [("group means", means), ("= result", result)]
        path = _picture(rows, run_dir / f"arithmetic_{n}.png")
        out["arithmetic"].append({"expression": expr, "picture": path,
                                  "groups": [t.indices for t in terms]})  # fmt: skip
    if reference is not None:
        out["neighbours"] = _neighbours(run, bank, p, reference, run_dir, pics)
    summary = write_run_summary(run_dir, out, lambda s: markdown(s, embed=False))
    if steps is not None:
        steps(run_dir.name, summary)
    return summary


def _reference(p: ExploreParams, bank: X.Bank) -> tuple[Any, Any]:
    """(the evaluation params of the run's data, the data as the run read it), checked
    against the samples' shape before anything is written."""
    from ganflow.tasks.evaluate.protocol import EvalParams, load_reference

    ep = EvalParams(checkpoint=p.checkpoint, cas=False, inception="off")
    raw = load_reference(ep)
    if tuple(raw.train_x.shape[1:]) != tuple(bank.images.shape[1:]):
        raise ConfigError(
            f"the run's data now reads as {tuple(raw.train_x.shape[1:])} images, its samples "
            f"are {tuple(bank.images.shape[1:])}: give the data as the run read it"
        )
    return ep, raw


def _neighbours(
    run: Any, bank: X.Bank, p: ExploreParams, reference: tuple, run_dir: Path, pics: dict
) -> dict:
    """Each of the first samples beside its nearest training images, per space asked, and
    their distances and indices as numbers."""
    ep, raw = reference
    train = torch.from_numpy(raw.train_x)  # (N, C, H, W) uint8
    samples = to_uint8(bank.images[: p.neighbour_samples], -1.0)
    spaces = ["pixels", "features"] if p.neighbours_in == "both" else [p.neighbours_in]
    found: dict[str, Any] = {}
    for where in spaces:
        if where == "pixels":
            q, b = samples.float() / 255, train.float() / 255
        else:
            from ganflow.tasks.evaluate.extractors import reference_extractor
            from ganflow.tasks.evaluate.protocol import data_name

            ext, _ = reference_extractor(raw, data_name(ep), str(run.device))
            q, b = torch.from_numpy(ext.features(samples)), torch.from_numpy(ext.features(train))
        dist, idx = X.nearest(q, b, p.neighbours)
        rows = [(f"{i}", torch.cat([samples[i : i + 1], train[idx[i]]]).float() / 255 * 2 - 1)
                for i in range(len(samples))]  # fmt: skip
        pics[f"neighbours_{where}"] = _picture(rows, run_dir / f"neighbours_{where}.png")
        found[where] = {"distances": dist.tolist(), "indices": idx.tolist()}
    return found


def markdown(s: dict[str, Any], embed: bool) -> str:
    def img(key_or_path: str) -> str:
        path = Path(s["pictures"].get(key_or_path, key_or_path))
        return f"![{path.stem}]({png_data_uri(path) if embed else path.name})"

    pics = s["pictures"]
    lines = [f"# The latent space of {s['checkpoint']}", "", "## The bank (numbered)", "",
             img("bank"), "", "## Walks: linear", "", img("walk_linear"), "",
             "## Walks: spherical", "", img("walk_spherical"), ""]  # fmt: skip
    if "class_held" in pics:
        lines += ["## Class held, noise walked", "", img("class_held"), "",
                  "## Noise held, class changed", "",
                  "Columns: " + ", ".join(s.get("noise_held_columns", [])), "",
                  img("noise_held"), ""]  # fmt: skip
    for a in s.get("arithmetic", []):
        lines += [f"## Arithmetic: `{a['expression']}`", "", img(a["picture"]), ""]
    for where in ("pixels", "features"):
        if f"neighbours_{where}" in pics:
            lines += [f"## Nearest training images ({where}): each row a sample, then its "
                      "nearest training images", "", img(f"neighbours_{where}"), ""]  # fmt: skip
    return "\n".join(lines)


def table(s: dict[str, Any]) -> str:
    lines = [f"{k:<20} {v}" for k, v in s["pictures"].items()]
    lines += [f"arithmetic {a['expression']!r}: {a['picture']}" for a in s.get("arithmetic", [])]
    return "\n".join([*lines, f"report: {s['report']}"])


def publish(run_name: str, summary: dict[str, Any]) -> None:
    create_markdown_artifact(
        markdown(summary, embed=True), key="explore-report", description=f"latent space {run_name}"
    )


@params_flow(ExploreParams, name="explore", log_prints=True)
def explore_flow(p: ExploreParams) -> dict[str, Any]:
    """DCGAN's walks in the latent space, vector arithmetic and the memorisation check."""
    return run_explore(p, publish)
