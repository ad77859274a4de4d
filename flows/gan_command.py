"""`ganflow train-gan` and `ganflow gan-grid`: options, the call into the flows (or the plain
pipeline with --no-prefect), the printed table."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from flows.options import add_run_options
from models.losses import LOSSES

# CLI flag -> GANConfig field, for the tricks people switch most; every other field via --set
FLAGS: dict[str, tuple[str, type, str]] = {
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
SWITCHES = {"--spectral-norm": "spectral_norm", "--self-attention": "self_attention",
            "--minibatch-discrimination": "minibatch_discrimination", "--lr-decay": "lr_decay"}  # fmt: skip


def _common(
    p: argparse.ArgumentParser,
    seeds: Callable[[str], list[int]],
    setting: Callable[[str], tuple[str, Any]],
) -> None:
    from tasks.sources import SOURCES

    p.add_argument(
        "--data", default="ring", help=f"ring | grid (2-D mixtures) | {' | '.join(SOURCES)}"
    )
    p.add_argument("--data-root", default=None, help="where the data set's files are")
    p.add_argument("--seeds", type=seeds, default=[0], help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument(
        "--steps", type=int, default=None, help="training steps (default: 6000 for ring/grid)"
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="image data: passes over the training set (default 5)",
    )
    p.add_argument(
        "--num-samples", type=int, default=10_000, help="image data: samples scored (FID etc.)"
    )
    p.add_argument("--set", dest="settings", type=setting, action="append", default=[], metavar="KEY=VALUE",
                   help="any GANConfig field, e.g. --set width=128 --set penalty_weight=5")  # fmt: skip
    add_run_options(p)
    for flag, (_, typ, text) in FLAGS.items():
        p.add_argument(flag, type=typ, default=None, help=text)
    for flag in SWITCHES:
        p.add_argument(flag, action="store_true", default=None, help=f"switch on {SWITCHES[flag]}")


def add_gan_parsers(sub: argparse._SubParsersAction, seeds: Callable[[str], list[int]],
                    setting: Callable[[str], tuple[str, Any]]) -> None:  # fmt: skip
    tg = sub.add_parser(
        "train-gan",
        help="GAN (unconditional, or class-conditional with --condition): any loss, any trick",
    )
    _common(tg, seeds, setting)
    tg.add_argument("--max-minutes", type=float, default=None, help="wall-time budget per seed")
    gg = sub.add_parser("gan-grid", help="a grid of GAN configurations and their comparison table")
    _common(gg, seeds, setting)
    gg.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                    help="one axis of the grid, e.g. --grid loss=nonsaturating,hinge --grid spectral_norm=false,true")  # fmt: skip


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    model = dict(args.settings)
    for flag, (name, _, _) in FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            model[name] = value
    for flag, name in SWITCHES.items():
        if getattr(args, flag[2:].replace("-", "_")):
            model[name] = True
    return model


def run_gan_command(args: argparse.Namespace) -> dict[str, Any]:
    kw = dict(data=args.data, model=model_overrides(args), seeds=args.seeds, steps=args.steps, epochs=args.epochs,
              device=args.device, num_samples=args.num_samples, data_root=args.data_root, run_dir=args.run_dir)  # fmt: skip
    from tasks.gan_pipeline import GANParams, make_config, parse_grid, run_gan, run_grid

    make_config(args.data, kw["model"])  # a bad setting fails before Prefect starts
    if args.command == "gan-grid":
        grid = parse_grid(args.grid)
        if args.no_prefect:
            return run_grid(GANParams(**kw), grid)
        from flows.gan import gan_grid_flow

        return gan_grid_flow(grid=grid, **kw)
    if args.no_prefect:
        return run_gan(GANParams(max_minutes=args.max_minutes, **kw))
    from flows.gan import train_gan_flow

    return train_gan_flow(max_minutes=args.max_minutes, **kw)


def json_result(summary: dict[str, Any]) -> dict[str, Any]:
    if "rows" in summary:  # grid
        return {k: summary[k] for k in ("data", "grid", "seeds", "rows", "run_dir")}
    means = {k: v["mean"] for k, v in summary["scores"].items()}
    keep = (
        "data",
        "config",
        "seeds",
        "steps",
        "scores",
        "per_seed",
        "run_dir",
        "report",
        "checkpoints",
        "wall_s",
    )
    return {**means, **{k: summary[k] for k in keep}}


def gan_table(summary: dict[str, Any]) -> str:
    if "rows" in summary:
        return f"{summary['data']}, seeds {summary['seeds']}\n{summary['table']}\nrun: {summary['run_dir']}"
    from tasks.gan_pipeline import fmt_score

    lines = [
        f"{summary['data']}: {summary['config']['loss']} loss, seeds {summary['seeds']}, {summary['steps']} steps"
    ]
    lines += [f"{k:<10} {fmt_score(v, k)}" for k, v in summary["scores"].items()]
    lines.append(f"report: {summary['report']}")
    return "\n".join(lines)
