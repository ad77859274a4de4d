"""Image-to-image translation benchmark: pix2pix on edges2fashion (beside the L1-only U-Net
and the identity mapping) and CycleGAN on fashion2fashion-m (beside the identity mapping),
the scores of `ganflow translate`, wall time and images/s, and the targets.

    .venv/bin/python benchmarks/translation_benchmark.py [--only pix2pix|cyclegan]
        [--pix2pix-minutes 8] [--cyclegan-minutes 15] [--device auto] [--set KEY=VALUE] [--json]

Targets: pix2pix's FID below the L1-only U-Net's at no more than 10 % higher L1;
CycleGAN's content accuracy at least 90 % of the classifier's accuracy on real B images,
and far above its accuracy on untranslated A. Runs the flow's plain body (no Prefect).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from ganflow.flows.translate import TranslateParams, run_translate
from ganflow.models.config import parse_setting


def _row(name: str, s: dict, keys: list[str]) -> str:
    return f"{name:<10}" + "".join(
        f"{'-' if s.get(k) is None else format(s[k], '.4g'):>12}" for k in keys
    )


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
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ganflow-translation-")
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
