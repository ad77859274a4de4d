"""The flow commands of `ganflow`: each flow as a Command (its params, its body, its flow,
its extra options and how its result prints), in one table that the command line, sweeps
and pipelines read."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    """A flow as a command: its params, its body (run without Prefect), its flow, what extra
    options add to the params, and how its result is printed."""

    name: str
    help: str
    params: type
    body: Callable[[Any], dict[str, Any]]
    flow: Any
    table: Callable[[dict[str, Any]], str]
    as_json: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r
    extra_options: Callable[[argparse.ArgumentParser], None] | None = None
    extra_params: Callable[[argparse.Namespace], dict[str, Any]] = lambda args: {}


def _gan_extras(grid: bool) -> tuple[Callable, Callable]:
    """train-gan / gan-grid: the flags of the tricks people switch most, into `model`."""
    from ganflow.flows.gan import parse_grid
    from ganflow.models.losses import LOSSES

    flags: dict[str, tuple[str, type, str]] = {
        "--loss": ("loss", str, f"one of {', '.join(LOSSES)}"),
        "--arch": ("arch", str, "mlp | dcgan (default: mlp for ring/grid, dcgan for images)"),
        "--n-critic": ("n_critic", int, "D steps per G step"),
        "--unrolled": ("unrolled_steps", int, "unrolled GAN: k differentiable D steps in G's loss"),
        "--pack": ("pack", int, "PacGAN: D judges this many samples at once"),
        "--lr-g": ("lr_g", float, "generator learning rate"),
        "--lr-d": ("lr_d", float, "discriminator learning rate (TTUR: different from --lr-g)"),
        "--d-optimizer": ("d_optimizer", str, "adam | sgd"),
        "--instance-noise": ("instance_noise", float, "std of noise on D's inputs, annealed to 0"),
        "--label-flip": ("label_flip", float, "probability of flipping a D label"),
        "--label-smoothing": ("label_smoothing", float, "one-sided: real target 1 - this"),
        "--replay": ("replay", int, "experience-replay pool size for D's fakes"),
        "--batch-size": ("batch_size", int, "batch size"),
        "--condition": (
            "condition",
            str,
            "class-conditional GAN: concat | projection | acgan (needs labels)",
        ),
    }
    switches = {
        "--spectral-norm": "spectral_norm",
        "--self-attention": "self_attention",
        "--minibatch-discrimination": "minibatch_discrimination",
        "--lr-decay": "lr_decay",
    }

    def add(p: argparse.ArgumentParser) -> None:
        for flag, (name, typ, text) in flags.items():
            p.add_argument(flag, dest=f"gan_{name}", type=typ, default=None, help=text)
        for flag, name in switches.items():
            p.add_argument(
                flag,
                dest=f"gan_{name}",
                action="store_true",
                default=None,
                help=f"switch on {name}",
            )

    def extra(args: argparse.Namespace) -> dict[str, Any]:
        model = dict(getattr(args, "model", []))
        for name, _, _ in flags.values():
            if getattr(args, f"gan_{name}") is not None:
                model[name] = getattr(args, f"gan_{name}")
        for name in switches.values():
            if getattr(args, f"gan_{name}"):
                model[name] = True
        out: dict[str, Any] = {"model": model}
        if grid:
            out["grid"] = parse_grid(getattr(args, "grid", []))
        return out

    return add, extra


def _arch_option(p: argparse.ArgumentParser) -> None:
    from ganflow.models.ssgan.config import ARCHS

    p.add_argument(
        "--arch", default=None, help=f"network: {', '.join(ARCHS)} (default: by image size)"
    )


@functools.cache
def commands() -> dict[str, Command]:
    from ganflow.flows import (
        augment,
        cluster,
        evaluate,
        explore,
        export,
        gan,
        infogan,
        outputs,
        semi_supervised,
        text2image,
        translate,
        truncation,
    )

    gan_add, gan_extra = _gan_extras(grid=False)
    grid_add, grid_extra = _gan_extras(grid=True)
    table = [
        Command(
            "semi-supervised",
            "K+1-class semi-supervised GAN vs a supervised baseline",
            semi_supervised.SemiSupervisedParams,
            semi_supervised.run_semi_supervised,
            semi_supervised.semi_supervised,
            outputs.semi_supervised_table,
            outputs.semi_supervised_json,
            _arch_option,
            lambda a: {
                "model": {**dict(getattr(a, "model", [])), **({"arch": a.arch} if a.arch else {})}
            },
        ),
        Command(
            "cluster",
            "adversarial autoencoder: unsupervised clustering or semi-supervised",
            cluster.ClusterParams,
            cluster.run_cluster,
            cluster.cluster,
            outputs.cluster_table,
            outputs.cluster_json,
        ),
        Command(
            "infogan",
            "InfoGAN: latent codes beside z; its categorical code clusters the data, scored "
            "like cluster (cluster and Hungarian accuracy, NMI) on the test split",
            infogan.InfoGANParams,
            infogan.run_infogan,
            infogan.infogan_flow,
            infogan.table,
            infogan.as_json,
        ),
        Command(
            "evaluate",
            "FID/KID/IS/precision/recall/density/coverage/CAS of a generator or a folder",
            evaluate.EvalParams,
            evaluate.run_evaluation,
            evaluate.evaluate,
            outputs.evaluate_table,
        ),
        Command(
            "train-gan",
            "GAN (unconditional, or class-conditional with --condition): any loss, any trick",
            gan.GANParams,
            gan.run_gan,
            gan.train_gan_flow,
            outputs.gan_table,
            outputs.gan_json,
            gan_add,
            gan_extra,
        ),
        Command(
            "gan-grid",
            "a grid of GAN configurations and their comparison table",
            gan.GridParams,
            gan.run_grid,
            gan.gan_grid_flow,
            outputs.gan_table,
            outputs.gan_json,
            grid_add,
            grid_extra,
        ),
        Command(
            "truncation",
            "BigGAN's truncation trick on a trained GAN: FID, precision and recall at each "
            "threshold, and the trade-off plot",
            truncation.TruncationParams,
            truncation.run_truncation,
            truncation.truncation_flow,
            truncation.table,
        ),
        Command(
            "explore",
            "a trained GAN's latent space: walks (linear, spherical), class and noise held, "
            "vector arithmetic, and each sample's nearest training images",
            explore.ExploreParams,
            explore.run_explore,
            explore.explore_flow,
            explore.table,
        ),
        Command(
            "export",
            "export a new version of a labelled synthetic data set from a trained run",
            export.ExportParams,
            export.run_export,
            export.export_flow,
            outputs.export_table,
        ),
        Command(
            "augment",
            "generator -> export -> real-only vs real + synthetic classifier",
            augment.AugmentParams,
            augment.run_augment,
            augment.augment_flow,
            outputs.augment_table,
            outputs.augment_json,
        ),
        Command(
            "translate",
            "image-to-image translation: pix2pix (paired) or CycleGAN (unpaired), scored beside "
            "its baselines; `ganflow translate apply` runs a trained one over a folder",
            translate.TranslateParams,
            translate.run_translate,
            translate.translate_flow,
            translate.table,
        ),
        Command(
            "text2image",
            "StackGAN text-to-image: Stage-I and Stage-II on a captioned set, scored for caption "
            "consistency, FID/KID/IS and R-precision; `ganflow text2image generate` draws a prompt",
            text2image.Text2ImageParams,
            text2image.run_text2image,
            text2image.text_to_image,
            text2image.table,
        ),
    ]
    return {c.name: c for c in table}
