"""`ganflow text2image generate`: a grid of images a trained StackGAN draws for one prompt.
Where the prompt names attributes of the set the model was trained on (a class, a colour,
a size, a position of the built-in captioned set) and that set's attribute classifier is
in the cache, it also says how many of the images the classifier reads back as asked."""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch

from ganflow.tasks.io import check_new_output


def add_generate_parser(sub: argparse._SubParsersAction) -> None:
    ap = sub.add_parser(
        "text2image-generate", help="draw a grid for a prompt with a trained StackGAN"
    )
    ap.prog = "ganflow text2image generate"
    ap.add_argument("--checkpoint", required=True, help="RUN/stage2/checkpoint.pt (or stage1)")
    ap.add_argument("--prompt", required=True, help='e.g. "a large blue trouser in the centre"')
    ap.add_argument("--n", type=int, default=16, help="images in the grid")
    ap.add_argument("--output", default="text2image.png", help="PNG to write (never overwritten)")
    ap.add_argument(
        "--stage", type=int, choices=(1, 2), default=None, help="default: the run's last"
    )
    ap.add_argument("--seed", type=int, default=0, help="noise seed")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quiet", action="store_true")


def asked(prompt: str, vocab: dict[str, list[str]]) -> dict[str, int]:
    """The attribute values a prompt names, {attribute: index}: the longest vocabulary entry
    of each attribute found in it as whole words ('top left corner' before 'left')."""
    from ganflow.models.text.words import words

    text = f" {' '.join(words(prompt))} "
    found: dict[str, int] = {}
    for attr, values in vocab.items():
        hits = [(len(v), i) for i, v in enumerate(values) if f" {' '.join(words(v))} " in text]
        if hits:
            found[attr] = max(hits)[1]
    return found


def read_back(run: Any, images: torch.Tensor, prompt: str, device: str) -> dict[str, Any] | None:
    """{attribute: {'asked': value, 'share': images read as asked}} from the cached attribute
    classifier of the run's data, or None where there is none (no attributes, not cached)."""
    from ganflow.tasks.evaluate.text2image import cached_reader

    vocab = run.extra.get("caption_vocab") or {}
    want = asked(prompt, vocab)
    from ganflow.tasks.train.text2image import resize

    fp = run.fingerprint
    side = int(fp.get("image_size", images.shape[-1]))
    reader = cached_reader(fp.get("id", ""), vocab, side, device) if want else None
    if reader is None:
        return None
    _, probs = reader.read(resize(images, side))
    return {a: {"asked": vocab[a][i], "share": float((probs[a].argmax(1) == i).mean())}
            for a, i in want.items() if a in probs}  # fmt: skip


def run_generate(args: argparse.Namespace) -> dict[str, Any]:
    from ganflow.tasks.export.captioned import draw_for, open_text2image
    from ganflow.tasks.report.figures import image_grid, save_png
    from ganflow.tasks.train.devices import select_device

    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    if not args.prompt.strip():
        raise ValueError("--prompt is empty")
    out = check_new_output(args.output, "--output")
    device = str(select_device(args.device))
    run, enc = open_text2image(args.checkpoint, device)
    stage = args.stage or run.record["stage"]
    if stage > run.record["stage"]:
        raise ValueError(f"{args.checkpoint} is a Stage-I run: it has no Stage-II to draw with")
    images = draw_for(run, enc, [args.prompt] * args.n, args.seed, stage)
    save_png(image_grid(images, nrow=max(1, int(math.ceil(math.sqrt(args.n))))), out)
    return {"output": str(out), "prompt": args.prompt, "n": args.n, "stage": stage,
            "image_size": int(images.shape[-1]), "read_back": read_back(run, images, args.prompt, device)}  # fmt: skip


def describe(result: dict[str, Any]) -> str:
    line = f"wrote {result['n']} Stage-{'I' * result['stage']} images for {result['prompt']!r} to {result['output']}"
    if result["read_back"]:
        line += "\nread back: " + ", ".join(
            f"{a} {r['asked']} {100 * r['share']:.0f} %" for a, r in result["read_back"].items()
        )
    return line
