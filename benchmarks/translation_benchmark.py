"""Image-to-image translation benchmark: pix2pix on edges2fashion (beside the L1-only U-Net
and the identity mapping) and CycleGAN on fashion2fashion-m (beside the identity mapping),
the scores of `ganflow translate`, wall time and images/s, and the targets.

    .venv/bin/python benchmarks/translation_benchmark.py [--only pix2pix|cyclegan]
        [--pix2pix-minutes 8] [--cyclegan-minutes 15] [--device auto] [--set KEY=VALUE] [--json]

Targets: pix2pix's FID below the L1-only U-Net's at no more than 10 % higher L1;
CycleGAN's content accuracy at least 90 % of the classifier's accuracy on real B images,
and far above its accuracy on untranslated A. Runs the flow's plain body (no Prefect).

With --photos, the same on photographs (SHARED: the folder holding facades/ and
tiny-imagenet-10/, default ../shared/data):

    .venv/bin/python benchmarks/translation_benchmark.py --photos [--shared SHARED]
        [--tasks facades,orange2lemon,cat2lion] [--photo-minutes 30]

facades, label maps -> photos (--direction b2a) at 128, pix2pix as the paper trains it (batch
1, jitter 144 -> 128, flips, the 70x70-like PatchGAN at 128) beside the L1-only U-Net and
the identity; target: pix2pix's FID below the U-Net's at an L1 within 10 % of it, both far
below the identity's. CycleGAN at 64 on unpaired Tiny-ImageNet-10 classes (orange <-> lemon,
tabby cat <-> lion; 500 training and 50 test images a class), one training per pair scored
both ways; targets: the A-vs-B classifier reads at least 80 % of the translations as the
target domain, SSIM to the input at least 0.5, FID below the identity's. FID/KID in the FID Inception network's features (these
folders have no classes). The epochs of each run are set so that its learning-rate schedule
ends within the budget at the measured CPU rate (--epochs overrides).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from ganflow.flows.translate import TranslateParams, run_translate
from ganflow.models.config import parse_setting


def _row(name: str, s: dict, keys: list[str]) -> str:
    return f"{name:<10}" + "".join(
        f"{'-' if s.get(k) is None else format(s[k], '.4g'):>12}" for k in keys
    )


# name: (model, source classes A and B or the facades folder, side, direction, epochs at which
# the schedule fits 30 minutes on 2 CPU cores at the measured rate)
PHOTO_TASKS = {
    "facades": ("pix2pix", "facades", 128, "b2a", 14),
    "orange2lemon": ("cyclegan", ("orange", "lemon"), 64, "a2b", 6),
    "cat2lion": ("cyclegan", ("tabby_cat", "lion"), 64, "a2b", 6),
}
PIX2PIX_KEYS = ["l1", "psnr", "ssim", "fid", "kid"]
CYCLEGAN_KEYS = ["target_domain_rate", "ssim_to_input", "fid", "kid", "cycle_l1"]


def unpaired_folder(shared: Path, a: str, b: str, work: Path) -> Path:
    """CycleGAN's layout (trainA/ trainB/ testA/ testB/) of two Tiny-ImageNet-10 classes,
    copied (the loaders refuse links that leave the data folder)."""
    root = work / "data" / f"{a}2{b}"
    for split, side, cls in (
        ("train", "A", a),
        ("train", "B", b),
        ("test", "A", a),
        ("test", "B", b),
    ):
        src, dst = shared / "tiny-imagenet-10" / split / cls, root / f"{split}{side}"
        if not src.is_dir():
            raise SystemExit(
                f"{src} does not exist (--shared names the folder holding tiny-imagenet-10/)"
            )
        if not dst.exists():
            shutil.copytree(src, dst)
    return root


def photo_targets(model: str, s: dict, base: dict | None = None) -> str:
    base = base or s["baselines"]
    if model == "pix2pix":
        ref, ident = base["l1_unet"], base["identity"]
        ok = s["fid"] < ref["fid"] and s["l1"] <= 1.1 * ref["l1"]
        far = s["fid"] < ident["fid"] and ref["fid"] < ident["fid"]
        return (f"target: FID {s['fid']:.4g} < U-Net's {ref['fid']:.4g} and L1 {s['l1']:.4g} <= "
                f"{1.1 * ref['l1']:.4g}: {'met' if ok else 'NOT met'}; both below the identity's FID "
                f"{ident['fid']:.4g}: {'yes' if far else 'NO'}")  # fmt: skip
    ident = base["identity"]
    ok = (s["target_domain_rate"] >= 0.8 and s["ssim_to_input"] >= 0.5
          and s["fid"] < ident["fid"])  # fmt: skip
    return (f"target: read as the target domain {s['target_domain_rate']:.3f} >= 0.8 (identity "
            f"{ident['target_domain_rate']:.3f}), SSIM to the input {s['ssim_to_input']:.3f} >= 0.5, "
            f"FID {s['fid']:.4g} < identity's {ident['fid']:.4g}: {'met' if ok else 'NOT met'}")  # fmt: skip


def photos(args: argparse.Namespace, work: Path) -> tuple[dict, list[str]]:
    shared = Path(args.shared)
    out, lines = {}, []
    for name in args.tasks.split(","):
        if name not in PHOTO_TASKS:
            raise SystemExit(f"unknown task {name!r}; choose from {', '.join(PHOTO_TASKS)}")
        model, source, side, direction, epochs = PHOTO_TASKS[name]
        root = shared / source if model == "pix2pix" else unpaired_folder(shared, *source, work)
        settings = dict(parse_setting(s) for s in args.settings)
        p = TranslateParams(model=model, data="folder", data_root=str(root), image_size=side,
                            direction=direction, epochs=args.epochs or epochs,
                            max_minutes=args.photo_minutes, device=args.device, settings=settings,
                            run_dir=str(work / name))  # fmt: skip
        s = run_translate(p)
        out[name] = s
        keys = PIX2PIX_KEYS if model == "pix2pix" else CYCLEGAN_KEYS
        lines += [f"\n{name} ({model}, {side}x{side}, {direction}): {s['steps']} steps, wall s {s['wall_s']}, "
                  f"images/s {s['images_per_s']}, device {s['device']}",
                  f"{'':<10}" + "".join(f"{k[:11]:>12}" for k in keys), _row(model, s, keys)]  # fmt: skip
        lines += [_row(n, b, keys) for n, b in s["baselines"].items()]
        lines.append(photo_targets(model, s))
        if "reverse" in s:  # CycleGAN: the same training, B -> A
            rev = s["reverse"]
            lines += [f"the other way ({name}, B -> A):", _row(model, rev["model"], keys),
                      _row("identity", rev["identity"], keys),
                      photo_targets(model, rev["model"], {"identity": rev["identity"]})]  # fmt: skip
        lines += [f"features: {s['protocol']['features']}",
                  f"pictures: {s['pictures']}"]  # fmt: skip
    return out, lines


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="", help="pix2pix or cyclegan")
    ap.add_argument("--pix2pix-minutes", type=float, default=8.0)
    ap.add_argument("--cyclegan-minutes", type=float, default=15.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                    help="a model setting for the run(s), e.g. --set ngf=16 (JSON values)")  # fmt: skip
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--photos", action="store_true", help="the photograph tasks instead")
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--tasks", default=",".join(PHOTO_TASKS))
    ap.add_argument("--photo-minutes", type=float, default=30.0, help="budget per trained model")
    ap.add_argument("--epochs", type=int, default=0, help="photo tasks: epochs (0: the table's)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ganflow-translation-")
    if args.photos:
        out, lines = photos(args, Path(work))
        print(json.dumps(out, default=str) if args.json else "\n".join(lines))
        return 0
    out, lines = {}, []
    runs = [("pix2pix", "edges2fashion", args.pix2pix_minutes, ["l1", "psnr", "ssim", "fid", "kid"]),
            ("cyclegan", "fashion2fashion-m", args.cyclegan_minutes,
             ["content_accuracy", "content_accuracy_real_b", "content_accuracy_source", "fid", "kid", "cycle_l1"])]  # fmt: skip
    for model, task, minutes, keys in runs:
        if args.only and args.only != model:
            continue
        settings = dict(parse_setting(s) for s in args.settings)
        p = TranslateParams(model=model, data=task, max_minutes=minutes, device=args.device,
                            settings=settings, run_dir=f"{work}/{model}")  # fmt: skip
        s = run_translate(p)
        out[model] = s
        lines += [f"\n{task}: {model}, {s['steps']} steps, wall s {s['wall_s']}, images/s {s['images_per_s']}, "
                  f"device {s['device']}", f"{'':<10}" + "".join(f"{k[:11]:>12}" for k in keys),
                  _row(model, s, keys)]  # fmt: skip
        lines += [_row(name, b, keys) for name, b in s["baselines"].items()]
        if model == "pix2pix":
            ref = s["baselines"]["l1_unet"]
            ok = s["fid"] < ref["fid"] and s["l1"] <= 1.1 * ref["l1"]
            lines.append(f"target: FID {s['fid']:.4g} < {ref['fid']:.4g} and L1 {s['l1']:.4g} <= "
                         f"{1.1 * ref['l1']:.4g}: {'met' if ok else 'NOT met'}")  # fmt: skip
        else:
            need = 0.9 * s["content_accuracy_real_b"]
            ok = (
                s["content_accuracy"] >= need
                and s["content_accuracy"] > s["content_accuracy_source"]
            )
            lines.append(f"target: content {s['content_accuracy']:.4g} >= {need:.4g} (90 % of real B) and above "
                         f"untranslated A {s['content_accuracy_source']:.4g}: {'met' if ok else 'NOT met'}")  # fmt: skip
        lines.append(f"report: {s['report']}")
    print(json.dumps(out, default=str) if args.json else "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
