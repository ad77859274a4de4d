"""Faults benchmark: bad inputs and faults tried against the command line, as a new user
(or a bad night) would, each classified.

    .venv/bin/python benchmarks/faults_benchmark.py [--out DIR] [--in-process] [--load] [--json]

It builds its own fixtures under --out (a tiny trained run, an exported data set version,
bad folders, malformed checkpoints, tampered versions; a read-only and a full filesystem
when this user may mount a tmpfs), then runs every case and prints, per class: tried /
clear errors / tracebacks / silently accepted / data lost, and the cases that went wrong.

A case expecting an error counts as a clear error when the command exits non-zero, prints
no traceback, and its last line on stderr is an error line that names what the case is
about (its `names` pattern); exit 0 is "silently accepted"; a traceback is a traceback;
a protected file that changed or went missing is "data lost". Kills: SIGKILL of a training
at random points, then resume, must end bit-identical to an unbroken run; a killed export
must leave no visible version and a rerun must succeed; a flow killed between its tasks
must finish on rerun. --load: 20 export flows submitted at once against one Prefect
server on loopback; every one must complete, with 20 distinct versions.

Each case runs in its own process by default (the real command line); --in-process calls
the command line's main() in this process instead (quick; what the test suite does),
except the cases that need their own process (Prefect's terminal output, kills).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GANFLOW = [sys.executable, "-m", "ganflow.flows.cli"]
CLASSES = ("bad option values", "bad data folders", "bad checkpoints", "bad data set versions",
           "pipeline files", "run directories", "kills", "full disk", "read-only", "concurrent flows")  # fmt: skip


@dataclass
class Case:
    cls: str
    name: str
    argv: list[str]
    names: str = ""  # a regex the error line must match (what it should name)
    expect: str = "error"  # or "ok"
    protect: list[Path] = field(default_factory=list)  # files that must not change
    own_process: bool = False  # Prefect mode: its terminal output is the point
    check: Any = None  # after the command: a callable returning a problem string or None
    env: dict[str, str] | None = None  # set for the command (own process only)
    command: str = ""  # the command it tries (default: read from argv)

    def __post_init__(self) -> None:
        self.command = self.command or command_of(self.argv)


SUBCOMMANDS = {"translate": ("apply",), "text2image": ("generate", "train"),
               "datasets": ("list", "show", "verify")}  # fmt: skip


def command_of(argv: list[str]) -> str:
    """The ganflow command an argv runs, with its subcommand ('translate apply')."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return "?"
    head = words[0].replace("-apply", " apply").replace("-generate", " generate")
    if head == "pipeline-run":
        return "pipeline run"
    if len(words) > 1 and words[1] in SUBCOMMANDS.get(head, ()):
        return f"{head} {words[1]}"
    return head


@dataclass
class Outcome:
    case: Case
    verdict: str  # clear | traceback | silent | unclear | lost | ok | failed
    code: int
    line: str
    seconds: float


# --- fixtures ---------------------------------------------------------------------------


def png(path: Path, value: int = 128, size: int = 8, width: int | None = None) -> Path:
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, width or size), value, np.uint8)).save(path)
    return path


def bomb(path: Path, w: int = 20000, h: int = 20000) -> Path:
    """A PNG declaring w x h pixels in a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))  # fmt: skip
    return path


def class_tree(root: Path, classes: tuple[str, ...] = ("a", "b"), n: int = 4) -> Path:
    for c in classes:
        for i in range(n):
            png(root / c / f"{i}.png", 30 * i + (100 if c == "b" else 0))
    return root


def run_cli(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run([*GANFLOW, *argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=REPO)  # fmt: skip


def try_mount(target: Path, size: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def unmount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


def build_fixtures(w: Path) -> dict[str, Path]:
    """Everything the cases read, under w. Returns named paths."""
    import numpy as np
    import torch

    f: dict[str, Path] = {}
    # a tiny trained K+1 GAN run and a version exported from it
    run = w / "run"
    if not (run / "seed0" / "gan" / "checkpoint.pt").is_file():
        done = run_cli(["semi-supervised", "--no-prefect", "--quiet", "--epochs", "1", "--seeds", "0",
                        "--run-dir", str(run)])  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"fixture run failed: {done.stderr[-2000:]}")
    f["run"], f["ckpt"] = run, run / "seed0" / "gan" / "checkpoint.pt"
    f["datasets"] = w / "datasets"
    if not (f["datasets"] / "good" / "v1").is_dir():
        done = run_cli(["export", "--no-prefect", "--quiet", "--checkpoint", str(f["ckpt"]),
                        "--name", "good", "--per-class", "3", "--balance", "natural", "--root", str(f["datasets"])])  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"fixture export failed: {done.stderr[-2000:]}")
    f["version"] = f["datasets"] / "good" / "v1"

    # image folders
    d = w / "folders"
    shutil.rmtree(d, ignore_errors=True)
    f["good"] = class_tree(d / "good")
    f["outside"] = class_tree(d / "outside")
    f["empty"] = d / "empty"
    f["empty"].mkdir(parents=True)
    f["one_class"] = class_tree(d / "one_class", ("a",))
    f["empty_class"] = class_tree(d / "empty_class")
    (f["empty_class"] / "c").mkdir()
    f["corrupt"] = class_tree(d / "corrupt")
    (f["corrupt"] / "a" / "bad.png").write_bytes(b"this is no image")
    f["truncated"] = class_tree(d / "truncated")
    (f["truncated"] / "b" / "cut.png").write_bytes((f["good"] / "a" / "0.png").read_bytes()[:30])
    f["bomb"] = class_tree(d / "bomb")
    bomb(f["bomb"] / "a" / "huge.png")
    f["link_class"] = class_tree(d / "link_class")
    (f["link_class"] / "c").symlink_to(f["outside"] / "a", target_is_directory=True)
    f["link_file"] = class_tree(d / "link_file")
    (f["link_file"] / "a" / "leak.png").symlink_to(f["outside"] / "b" / "0.png")
    f["no_images"] = d / "no_images"
    for c in ("a", "b"):
        (f["no_images"] / c).mkdir(parents=True)
        (f["no_images"] / c / "notes.txt").write_text("x")
    f["a_file"] = d / "a_file.png"
    png(f["a_file"])
    # paired and unpaired folders
    f["pair_mismatch"] = d / "pair_mismatch"
    for i in range(4):
        png(f["pair_mismatch"] / "A" / f"{i}.png")
        png(f["pair_mismatch"] / "B" / f"{i + 1}.png")
    f["pair_no_b"] = d / "pair_no_b"
    for i in range(4):
        png(f["pair_no_b"] / "A" / f"{i}.png")
    f["pair_sizes"] = d / "pair_sizes"
    for i in range(4):
        png(f["pair_sizes"] / "A" / f"{i}.png")
        png(f["pair_sizes"] / "B" / f"{i}.png", size=16 if i == 2 else 8)
    f["pair_odd"] = d / "pair_odd"
    for i in range(4):
        png(f["pair_odd"] / f"{i}.png", width=15)
    f["pair_link"] = d / "pair_link"
    for i in range(4):
        png(f["pair_link"] / "A" / f"{i}.png")
        png(f["pair_link"] / "B" / f"{i}.png")
    (f["pair_link"] / "B" / "3.png").unlink()
    (f["pair_link"] / "B" / "3.png").symlink_to(f["outside"] / "a" / "1.png")
    f["unpaired_no_b"] = class_tree(d / "unpaired_no_b", ("trainA",))
    f["unpaired_one_test"] = class_tree(d / "unpaired_one_test", ("trainA", "trainB", "testA"))
    f["unpaired_empty"] = class_tree(d / "unpaired_empty", ("trainB",))
    (f["unpaired_empty"] / "trainA").mkdir()
    # caption tables
    f["captions_missing"] = d / "captions_missing.csv"
    f["captions_missing"].write_text(
        "image,caption\ngood/a/0.png,a thing\ngood/a/nope.png,another\n"
    )
    f["captions_header"] = d / "captions_header.csv"
    f["captions_header"].write_text("file,text\ngood/a/0.png,a thing\n")
    f["captions_empty"] = d / "captions_empty.csv"
    f["captions_empty"].write_text("image,caption\ngood/a/0.png,\n")
    f["captions_binary"] = d / "captions_binary.csv"
    f["captions_binary"].write_bytes(b"image,caption\n\xff\xfe\x00bad,\x9c\n")
    f["captions_escape"] = d / "captions_escape.csv"
    f["captions_escape"].write_text("image,caption\n../../etc/hostname,a thing\n")
    # sample folders for evaluate
    f["samples_unknown"] = class_tree(d / "samples_unknown", ("cat", "dog"))
    f["samples_link"] = class_tree(d / "samples_link", ("0", "1"))
    (f["samples_link"] / "0" / "x.png").symlink_to(f["outside"] / "a" / "2.png")

    # malformed checkpoints
    c = w / "checkpoints"
    shutil.rmtree(c, ignore_errors=True)
    c.mkdir()
    ck = torch.load(f["ckpt"], weights_only=True)

    def variant(name: str, change: Any) -> None:
        doc = copy.deepcopy(ck)
        change(doc)
        torch.save(doc, c / f"{name}.pt")
        f[f"ck_{name}"] = c / f"{name}.pt"

    variant("no_state", lambda d: d.pop("state"))
    variant("no_config", lambda d: d.pop("config"))
    variant("step_text", lambda d: d.__setitem__("step", "ten"))
    variant("family", lambda d: d["config"].__setitem__("family", "vae"))
    variant("format", lambda d: d.__setitem__("format_version", 99))
    variant("model_type", lambda d: d["config"]["model"].__setitem__("z_dim", "big"))
    variant(
        "no_g", lambda d: d.__setitem__("state", {k: v for k, v in d["state"].items() if k != "G"})
    )
    variant(
        "shapes",
        lambda d: d["state"].__setitem__("G", {k: torch.zeros(3) for k in d["state"]["G"]}),
    )
    torch.save([1, 2, 3], c / "a_list.pt")
    f["ck_a_list"] = c / "a_list.pt"
    (c / "text.pt").write_text("not a checkpoint\n")
    f["ck_text"] = c / "text.pt"
    (c / "truncated.pt").write_bytes(f["ckpt"].read_bytes()[:2000])
    f["ck_truncated"] = c / "truncated.pt"
    (c / "folder.pt").mkdir()
    f["ck_folder"] = c / "folder.pt"
    f["ck_missing"] = c / "missing.pt"
    # a pickle that runs code when loaded unsafely
    torch.save({"format_version": 1, "x": np.dtype("float32")}, c / "unsafe.pt")
    f["ck_unsafe"] = c / "unsafe.pt"

    # data set versions, tampered copies of the good one
    for name, tamper in (
        ("changed", lambda v: png(next((v / "images").rglob("*.png")), 7)),
        ("deleted", lambda v: next((v / "images").rglob("*.png")).unlink()),
        (
            "planted",
            lambda v: np.savez(
                v / "arrays.npz",
                images=np.zeros((2, 1, 8, 8), np.uint8),
                labels=np.zeros(2, np.int64),
            ),
        ),  # fmt: skip
        ("stray", lambda v: (v / "notes.txt").write_text("x")),
        ("manifest", lambda v: (v / "manifest.json").write_text("{broken")),
        (
            "files_text",
            lambda v: (v / "manifest.json").write_text(
                json.dumps({**json.loads((v / "manifest.json").read_text()), "files": "images"})
            ),
        ),
        ("labels", lambda v: (v / "labels.csv").write_text("file,label\nx,1\n")),
    ):
        v = f["datasets"] / f"t-{name}" / "v1"
        shutil.rmtree(v.parent, ignore_errors=True)
        shutil.copytree(f["version"], v)
        tamper(v)
        f[f"v_{name}"] = v

    # run directories
    r = w / "rundirs"
    shutil.rmtree(r, ignore_errors=True)
    r.mkdir()
    (r / "a_file").write_text("keep me")
    f["rd_file"] = r / "a_file"
    other = r / "cluster_run"
    other.mkdir()
    (other / ".ganflow-run.json").write_text(json.dumps({"flow": "cluster"}))
    (other / "report.md").write_text("the cluster run's report")
    f["rd_other"] = other
    foreign = r / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_text("precious")
    f["rd_foreign"] = foreign

    # pipeline files
    pl = w / "pipelines"
    shutil.rmtree(pl, ignore_errors=True)
    pl.mkdir()
    for name, text in (
        ("good", '[[step]]\nname = "ssl"\nflow = "semi-supervised"\nparams = { data = "digits", epochs = 1 }\n'),
        ("not_toml", "not toml [[\n"),
        ("unknown_flow", '[[step]]\nname = "a"\nflow = "nosuch"\n'),
        ("bad_value", '[[step]]\nname = "a"\nflow = "semi-supervised"\nparams = { epochs = -1 }\n'),
        ("bad_reference", '[[step]]\nname = "a"\nflow = "export"\nparams = { checkpoint = "${nope.path}", name = "x" }\n'),
    ):  # fmt: skip
        (pl / f"{name}.toml").write_text(text)
        f[f"pl_{name}"] = pl / f"{name}.toml"
    return f


def sha(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256("".join(f"{p.relative_to(path)}:{sha(p)}" for p in sorted(path.rglob("*")) if p.is_file()).encode()).hexdigest()  # fmt: skip
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


# --- the cases --------------------------------------------------------------------------


def cases(f: dict[str, Path], w: Path) -> list[Case]:
    ss = ["semi-supervised", "--no-prefect", "--quiet", "--epochs", "1"]
    folder = [
        *ss,
        "--data",
        "folder",
        "--labels-per-class",
        "1",
        "--image-size",
        "8",
        "--channels",
        "1",
    ]
    out: list[Case] = []

    def add(cls: str, name: str, argv: list[str], names: str = "", **kw: Any) -> None:
        out.append(Case(cls, name, [str(a) for a in argv], names, **kw))

    o = "bad option values"
    add(o, "--epochs 0", [*ss[:-1], "0"], "epochs")
    add(o, "--max-minutes nan", [*ss, "--max-minutes", "nan"], "max_minutes=nan: expected a finite")
    add(o, "truncation --thresholds nan,0.5", ["truncation", "--no-prefect", "--checkpoint", f["ckpt"], "--thresholds", "nan,0.5"], "finite numbers")  # fmt: skip
    add(o, "--set a key twice with two values", [*ss, "--set", "lr_d=0.001", "--set", "lr_d=0.002"], "lr_d is given twice")  # fmt: skip
    add(o, "sweep --param a key twice", ["sweep", "semi-supervised", "--param", "epochs=2", "--param", "epochs=3"], "epochs is given twice")  # fmt: skip
    add(o, "text2image train --image-size 48", ["text2image", "train", "--no-prefect", "--image-size", "48"], "--image-size must be a power of 2")  # fmt: skip
    add(o, "--epochs -2", [*ss[:-1], "-2"], "epochs")
    add(o, "--epochs two", [*ss[:-1], "two"], "epochs")
    add(o, "--max-minutes -1", [*ss, "--max-minutes", "-1"], "max.minutes")
    add(o, "--max-minutes 0", [*ss, "--max-minutes", "0"], "max.minutes")
    add(
        o,
        "--set feature_matching=maybe",
        [*ss, "--set", "feature_matching=maybe"],
        "feature_matching",
    )
    add(o, "--set lr_d=abc", [*ss, "--set", "lr_d=abc"], "lr_d")
    add(o, "--set lr_d=-1", [*ss, "--set", "lr_d=-1"], "lr_d")
    add(o, "--set lr_d=nan", [*ss, "--set", "lr_d=nan"], "lr_d")
    add(o, "--set lr_d=inf", [*ss, "--set", "lr_d=inf"], "lr_d")
    add(o, "--set batch_size=0", [*ss, "--set", "batch_size=0"], "batch_size")
    add(o, "--set batch_size=1.5", [*ss, "--set", "batch_size=1.5"], "batch_size")
    add(o, "--set z_dim=-5", [*ss, "--set", "z_dim=-5"], "z_dim")
    add(o, "--set nosuch=1", [*ss, "--set", "nosuch=1"], "nosuch")
    add(o, "--set without =", [*ss, "--set", "lr_d"], "lr_d|--set")
    add(o, "--device tpu9", [*ss, "--device", "tpu9"], "tpu9|device")
    add(o, "--device cuda without a GPU", [*ss, "--device", "cuda"], "cuda|CUDA|GPU")
    add(o, "--precision fp8", [*ss, "--precision", "fp8"], "precision|fp8")
    add(o, "--labels-per-class 0", [*ss, "--labels-per-class", "0"], "labels.per.class")
    add(o, "--labels-per-class 100000", [*ss, "--labels-per-class", "100000"], "labels|label")
    add(o, "--seeds a,b", [*ss, "--seeds", "a,b"], "seeds")
    add(o, "--seeds -1", [*ss, "--seeds", "-1"], "seed")
    add(o, "--data nosuch", [*ss, "--data", "nosuch"], "nosuch")
    add(o, "--val-fraction 1.5", [*ss, "--val-fraction", "1.5"], "val.fraction")
    add(o, "--gpus 0", [*ss, "--gpus", "0"], "gpus")
    add(o, "--image-size 0 (folder)", [*folder[:-4], "--image-size", "0", "--channels", "1", "--data-root", f["good"]], "image.size")  # fmt: skip
    add(o, "train-gan --steps 0", ["train-gan", "--no-prefect", "--steps", "0"], "steps")
    add(o, "train-gan --loss bogus", ["train-gan", "--no-prefect", "--loss", "bogus"], "loss|bogus")
    add(o, "cluster --clusters 0", ["cluster", "--no-prefect", "--clusters", "0"], "clusters")
    add(o, "export --per-class 0", ["export", "--no-prefect", "--checkpoint", f["ckpt"], "--name", "x", "--per-class", "0", "--root", w / "scratch"], "per.class")  # fmt: skip
    add(o, "export --min-confidence 1.5", ["export", "--no-prefect", "--checkpoint", f["ckpt"], "--name", "x", "--min-confidence", "1.5", "--root", w / "scratch"], "confidence")  # fmt: skip
    add(o, "export --name ../evil", ["export", "--no-prefect", "--checkpoint", f["ckpt"], "--name", "../evil", "--root", w / "scratch"], "evil|name")  # fmt: skip
    add(o, "translate --epochs 0", ["translate", "--no-prefect", "--epochs", "0"], "epochs")
    add(
        o,
        "translate --model unet9",
        ["translate", "--no-prefect", "--model", "unet9"],
        "model|unet9",
    )
    add(o, "text2image --epochs -1", ["text2image", "--no-prefect", "--epochs", "-1"], "epochs")
    add(
        o,
        "gan-grid --grid loss=bogus",
        ["gan-grid", "--no-prefect", "--grid", "loss=bogus"],
        "loss|bogus",
    )
    add(o, "sweep --grid nosuch=1", ["sweep", "semi-supervised", "--grid", "nosuch=1"], "nosuch")
    add(
        o,
        "serve --cron 'not a cron'",
        ["serve", "augment", "--cron", "not a cron", "--dry-run"],
        "cron",
    )
    add(o, "serve --interval 0", ["serve", "augment", "--interval", "0", "--dry-run"], "interval")
    add(
        o,
        "evaluate without --checkpoint or --samples",
        ["evaluate", "--no-prefect"],
        "checkpoint|samples",
    )
    add(o, "a user's mistake in Prefect mode: one line, no Prefect traceback", ["semi-supervised", "--epochs", "1", "--data", "folder", "--data-root", f["corrupt"], "--labels-per-class", "1"], "bad.png", own_process=True)  # fmt: skip

    add(o, "PREFECT_API_URL naming no server", ["semi-supervised", "--epochs", "1", "--run-dir", w / "scratch" / "no-server"], "PREFECT_API_URL", own_process=True, env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})  # fmt: skip

    d = "bad data folders"
    add(d, "--data-root missing", [*folder, "--data-root", w / "nowhere"], "nowhere")
    add(d, "--data-root is a file", [*folder, "--data-root", f["a_file"]], "a_file")
    add(d, "empty folder", [*folder, "--data-root", f["empty"]], "empty")
    add(d, "one class folder", [*folder, "--data-root", f["one_class"]], "class")
    add(
        d,
        "a class folder with no images",
        [*folder, "--data-root", f["empty_class"]],
        r"empty_class/c",
    )
    add(d, "a corrupt image", [*folder, "--data-root", f["corrupt"]], "bad.png")
    add(d, "a truncated image", [*folder, "--data-root", f["truncated"]], "cut.png")
    add(d, "a PNG declaring 20000x20000 pixels", [*folder, "--data-root", f["bomb"]], "huge.png")
    add(
        d,
        "a class folder linking outside the root",
        [*folder, "--data-root", f["link_class"]],
        "link_class/c",
    )
    add(
        d, "an image linking outside the root", [*folder, "--data-root", f["link_file"]], "leak.png"
    )
    add(
        d,
        "class folders with no image files",
        [*folder, "--data-root", f["no_images"]],
        "no_images",
    )
    tr = ["translate", "--no-prefect", "--quiet", "--epochs", "1", "--data", "folder", "--image-size", "8", "--channels", "1"]  # fmt: skip
    add(d, "paired: names do not match", [*tr, "--data-root", f["pair_mismatch"]], "do not match")
    add(d, "paired: no B/", [*tr, "--data-root", f["pair_no_b"]], "B/")
    add(d, "paired: a pair of two sizes", [*tr, "--data-root", f["pair_sizes"]], "two sizes")
    add(d, "paired: side-by-side of odd width", [*tr, "--data-root", f["pair_odd"]], "even width")
    add(d, "paired: a side linking outside the root", [*tr, "--data-root", f["pair_link"]], "3.png")
    ut = [*tr[:3], "--model", "cyclegan", *tr[3:]]
    add(d, "unpaired: no trainB/", [*ut, "--data-root", f["unpaired_no_b"]], "trainB")
    add(
        d,
        "unpaired: testA/ without testB/",
        [*ut, "--data-root", f["unpaired_one_test"]],
        "testA|testB",
    )
    add(d, "unpaired: empty trainA/", [*ut, "--data-root", f["unpaired_empty"]], "trainA")
    t2i = ["text2image", "--no-prefect", "--quiet", "--epochs", "1", "--data", "table"]
    add(
        d,
        "captions: an image that does not exist",
        [*t2i, "--data-root", f["captions_missing"]],
        "nope.png",
    )
    add(
        d,
        "captions: no image/caption header",
        [*t2i, "--data-root", f["captions_header"]],
        "header",
    )
    add(d, "captions: an empty caption", [*t2i, "--data-root", f["captions_empty"]], "empty")
    add(
        d,
        "captions: not UTF-8 text",
        [*t2i, "--data-root", f["captions_binary"]],
        "captions_binary",
    )
    add(
        d,
        "captions: an image outside the root",
        [*t2i, "--data-root", f["captions_escape"]],
        "outside",
    )
    ev = ["evaluate", "--no-prefect", "--quiet", "--data", "digits"]
    add(
        d,
        "samples: class folders that are no classes",
        [*ev, "--samples", f["samples_unknown"]],
        "cat",
    )
    add(d, "samples: an image linking outside", [*ev, "--samples", f["samples_link"]], "x.png")
    add(d, "samples: missing folder", [*ev, "--samples", w / "nowhere"], "nowhere")

    c = "bad checkpoints"
    exp = ["export", "--no-prefect", "--quiet", "--name", "from-bad", "--root", w / "scratch", "--checkpoint"]  # fmt: skip
    for key, names in (("missing", "missing.pt"), ("folder", "folder.pt"), ("text", "text.pt"),
                       ("truncated", "truncated.pt"), ("a_list", "a_list.pt"), ("no_state", "state"),
                       ("no_config", "config"), ("step_text", "step"), ("family", "vae|family"),
                       ("format", "format"), ("model_type", "z_dim"), ("no_g", "generator"),
                       ("shapes", "shape|size"), ("unsafe", "unsafe.pt")):  # fmt: skip
        add(c, f"export: {key}", [*exp, f[f"ck_{key}"]], names)
    add(
        c,
        "evaluate: a checkpoint without config",
        [*ev, "--checkpoint", f["ck_no_config"]],
        "config",
    )
    add(c, "evaluate: wrong weight shapes", [*ev, "--checkpoint", f["ck_shapes"]], "shape|size")
    add(c, "translate apply: a K+1 GAN checkpoint", ["translate", "apply", "--checkpoint", f["ckpt"], "--input", f["good"], "--output", w / "scratch" / "tr"], "translator")  # fmt: skip
    add(c, "text2image generate: a K+1 GAN checkpoint", ["text2image", "generate", "--checkpoint", f["ckpt"], "--prompt", "a shoe", "--output", w / "scratch" / "g.png"], "StackGAN|text|checkpoint")  # fmt: skip
    add(c, "text2image generate: truncated", ["text2image", "generate", "--checkpoint", f["ck_truncated"], "--prompt", "a shoe", "--output", w / "scratch" / "g.png"], "truncated.pt")  # fmt: skip

    v = "bad data set versions"
    ds = ["datasets", "verify", "--root", f["datasets"]]
    add(v, "verify: a changed image", [*ds, "t-changed"], "changed")
    add(v, "verify: a deleted image", [*ds, "t-deleted"], "missing")
    add(v, "verify: a planted arrays.npz", [*ds, "t-planted"], "arrays.npz")
    add(v, "verify: a stray file", [*ds, "t-stray"], "notes.txt")
    add(v, "verify: a corrupt manifest", [*ds, "t-manifest"], "manifest")
    add(
        v,
        "verify: a manifest whose files are a string",
        [*ds, "t-files_text"],
        "files of the wrong type",
    )
    add(
        v,
        "list: a --root that does not exist",
        ["datasets", "list", "--root", w / "no-such-root"],
        "not a folder of data sets",
    )
    add(v, "verify: a rewritten labels.csv", [*ds, "t-labels"], "labels.csv")
    add(v, "verify: no such data set", [*ds, "nosuch"], "nosuch")
    add(v, "verify: no such version", [*ds, "good", "--version", "v9"], "v9")
    add(
        v,
        "show: no such data set",
        ["datasets", "show", "nosuch", "--root", f["datasets"]],
        "nosuch",
    )
    aug = ["augment", "--no-prefect", "--quiet", "--epochs", "1", "--classifier-steps", "10", "--run-dir", w / "scratch" / "aug"]  # fmt: skip
    add(v, "augment --synthetic a tampered version", [*aug, "--synthetic", f["v_planted"]], "verification|arrays.npz")  # fmt: skip
    add(v, "verify: the good version", [*ds, "good"], expect="ok")

    r = "run directories"
    keep = [f["run"] / "report.md", f["run"] / "metrics.json", f["run"] / "seed0" / "gan" / "checkpoint.pt"]  # fmt: skip
    add(
        r,
        "--run-dir is a file",
        [*ss, "--run-dir", f["rd_file"]],
        "is a file",
        protect=[f["rd_file"]],
    )
    add(
        r,
        "--run-dir is another flow's run",
        [*ss, "--run-dir", f["rd_other"]],
        "cluster",
        protect=[f["rd_other"]],
    )
    add(r, "cluster into a semi-supervised run", ["cluster", "--no-prefect", "--epochs", "1", "--run-dir", f["run"]], "semi-supervised", protect=keep)  # fmt: skip
    add(r, "--run-dir inside a data set version", [*ss, "--run-dir", f["version"] / "images" / "run"], "data set version", protect=[f["version"]])  # fmt: skip
    add(r, "--run-dir a folder of someone's files", [*ss, "--run-dir", f["rd_foreign"]], "not empty", protect=[f["rd_foreign"]])  # fmt: skip
    add(r, "the same flow with other settings", [*ss, "--labels-per-class", "3", "--seeds", "0", "--run-dir", f["run"]], "labels_per_class", protect=keep)  # fmt: skip
    add(r, "translate apply --output inside a data set version", ["translate", "apply", "--checkpoint", f["ckpt"], "--input", f["good"], "--output", f["version"] / "translated"], "data set version", protect=[f["version"]])  # fmt: skip
    add(r, "text2image generate --output inside a data set version", ["text2image", "generate", "--checkpoint", f["ckpt"], "--prompt", "a shoe", "--output", f["version"] / "grid.png"], "data set version", protect=[f["version"]])  # fmt: skip
    add(r, "text2image generate --output over a file", ["text2image", "generate", "--checkpoint", f["ckpt"], "--prompt", "a shoe", "--output", f["rd_file"]], "not overwritten", protect=[f["rd_file"]])  # fmt: skip
    add(r, "export --root inside a data set version", ["export", "--no-prefect", "--checkpoint", f["ckpt"], "--name", "x", "--root", f["version"]], "version", protect=[f["version"]])  # fmt: skip

    def no_dir(p: Path) -> Any:
        return lambda: f"{p} was left behind" if p.exists() else None

    add(r, "a failed run leaves no empty run directory", [*folder, "--data-root", f["corrupt"], "--run-dir", w / "scratch" / "failed"], "bad.png", check=no_dir(w / "scratch" / "failed"))  # fmt: skip
    # every command that writes a run directory or an output: the same two refusals
    writers = {
        "cluster": ["cluster", "--no-prefect", "--epochs", "1"],
        "infogan": ["infogan", "--no-prefect", "--epochs", "1"],
        "train-gan": ["train-gan", "--no-prefect", "--steps", "1"],
        "gan-grid": ["gan-grid", "--no-prefect", "--grid", "loss=hinge"],
        "truncation": ["truncation", "--no-prefect", "--checkpoint", f["ckpt"]],
        "evaluate": ["evaluate", "--no-prefect", "--checkpoint", f["ckpt"]],
        "augment": ["augment", "--no-prefect", "--epochs", "1"],
        "translate": ["translate", "--no-prefect", "--epochs", "1"],
        "text2image": ["text2image", "--no-prefect", "--epochs", "1"],
        "sweep": ["sweep", "semi-supervised", "--grid", "epochs=1", "--runner", "serial"],
        "pipeline run": ["pipeline-run", f["pl_good"]],
    }
    for cmd, argv in writers.items():
        add(r, f"{cmd} --run-dir inside a data set version", [*argv, "--run-dir", f["version"] / "run"], "data set version", protect=[f["version"]])  # fmt: skip
        add(r, f"{cmd} --run-dir a folder of someone's files", [*argv, "--run-dir", f["rd_foreign"]], "not empty", protect=[f["rd_foreign"]])  # fmt: skip
    add(r, "augment --root inside a data set version", [*writers["augment"], "--root", f["version"], "--run-dir", w / "scratch" / "aug-root"], "version", protect=[f["version"]])  # fmt: skip
    add(r, "translate apply --output a folder of someone's files", ["translate", "apply", "--checkpoint", f["ckpt"], "--input", f["good"], "--output", f["rd_foreign"]], "not empty|exists", protect=[f["rd_foreign"]])  # fmt: skip

    o = "bad option values"
    add(o, "infogan --epochs 0", ["infogan", "--no-prefect", "--epochs", "0"], "epochs")
    add(o, "infogan --set nosuch=1", ["infogan", "--no-prefect", "--set", "nosuch=1"], "nosuch")
    add(o, "infogan --data-root missing", ["infogan", "--no-prefect", "--data", "folder", "--data-root", w / "nowhere"], "nowhere")  # fmt: skip
    add(o, "train-gan --channels 2", ["train-gan", "--no-prefect", "--channels", "2"], "channels")
    add(o, "semi-supervised --image-size 30 (not a side it takes)", [*folder[:-4], "--image-size", "30", "--channels", "1", "--data-root", f["good"]], "30")  # fmt: skip
    add(o, "gan-grid --grid a key twice", ["gan-grid", "--no-prefect", "--grid", "loss=hinge", "--grid", "loss=nan"], "loss")  # fmt: skip
    add(o, "truncation --thresholds empty", ["truncation", "--no-prefect", "--checkpoint", f["ckpt"], "--thresholds", ""], "thresholds")  # fmt: skip
    add(o, "truncation --thresholds -1", ["truncation", "--no-prefect", "--checkpoint", f["ckpt"], "--thresholds", "-1"], "threshold")  # fmt: skip
    add(o, "explore a K+1 GAN's checkpoint (no latent space to walk)", ["explore", "--no-prefect", "--checkpoint", f["ckpt"], "--run-dir", w / "scratch" / "ex-ss"], "family gan", check=no_dir(w / "scratch" / "ex-ss"))  # fmt: skip
    add(o, "explore --steps 1", ["explore", "--no-prefect", "--checkpoint", f["ckpt"], "--steps", "1"], "steps must be at least 2")  # fmt: skip
    add(o, "explore --pairs 40 (a bank of 64 holds 32)", ["explore", "--no-prefect", "--checkpoint", f["ckpt"], "--pairs", "40"], "holds 32 pairs")  # fmt: skip
    add(o, "sweep --grid lr_d=nan", ["sweep", "semi-supervised", "--grid", "lr_d=nan", "--runner", "serial", "--run-dir", w / "scratch" / "sw-nan"], "lr_d")  # fmt: skip
    add(o, "sweep --seeds empty", ["sweep", "semi-supervised", "--seeds", ""], "seeds")
    add(o, "sweep --workers 0", ["sweep", "semi-supervised", "--grid", "epochs=1", "--workers", "0"], "workers")  # fmt: skip
    add(o, "sweep an unknown flow", ["sweep", "nosuch", "--grid", "epochs=1"], "nosuch")
    add(o, "serve an unknown flow", ["serve", "nosuch", "--interval", "5", "--dry-run"], "nosuch")
    add(o, "serve --param out of range", ["serve", "augment", "--param", "labels_per_class=-3", "--interval", "5", "--dry-run"], "labels_per_class")  # fmt: skip
    add(o, "serve --param unknown", ["serve", "augment", "--param", "nosuch=1", "--interval", "5", "--dry-run"], "nosuch")  # fmt: skip
    add(o, "serve --pipeline missing", ["serve", "--pipeline", w / "nowhere.toml", "--interval", "5", "--dry-run"], "nowhere.toml")  # fmt: skip
    add(o, "text2image generate an empty prompt", ["text2image", "generate", "--checkpoint", f["ckpt"], "--prompt", "", "--output", w / "scratch" / "e.png"], "prompt")  # fmt: skip
    add(o, "translate apply --input missing", ["translate", "apply", "--checkpoint", f["ckpt"], "--input", w / "nowhere", "--output", w / "scratch" / "tr2"], "nowhere")  # fmt: skip
    p = "pipeline files"
    add(p, "pipeline run: no such file", ["pipeline-run", w / "nowhere.toml"], "nowhere.toml")
    add(p, "pipeline run: a folder", ["pipeline-run", w / "pipelines"], "pipelines")
    for key, names in (("not_toml", "TOML"), ("unknown_flow", "nosuch"), ("bad_value", "epochs"), ("bad_reference", "nope")):  # fmt: skip
        add(p, f"pipeline run: {key}", ["pipeline-run", f[f"pl_{key}"], "--run-dir", w / "scratch" / f"pl-{key}"], names)  # fmt: skip

    add(
        "run directories",
        "the same run resumed (finished: reused)",
        [*ss, "--seeds", "0", "--run-dir", f["run"]],
        expect="ok",
    )
    return out


def disk_cases(f: dict[str, Path], w: Path) -> list[Case]:
    """Full and read-only filesystems (tmpfs mounts), when this user may mount."""
    out: list[Case] = []
    ro, full = w / "mnt-ro", w / "mnt-full"
    for m in (ro, full):
        unmount(m)
    if try_mount(ro, "4m"):
        (ro / "datasets" / "good").mkdir(parents=True)
        shutil.copytree(f["version"], ro / "datasets" / "good" / "v1")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        ss = ["semi-supervised", "--no-prefect", "--quiet", "--epochs", "1"]
        out += [
            Case(
                "read-only",
                "--run-dir on a read-only filesystem",
                [*ss, "--run-dir", str(ro / "run")],
                "read-only|Read-only|mnt-ro",
            ),  # fmt: skip
            Case(
                "read-only",
                "export onto a read-only filesystem",
                [
                    "export",
                    "--no-prefect",
                    "--quiet",
                    "--checkpoint",
                    str(f["ckpt"]),
                    "--name",
                    "good",
                    "--root",
                    str(ro / "datasets"),
                ],
                "read-only|Read-only|mnt-ro",
                protect=[ro / "datasets" / "good" / "v1"],
            ),  # fmt: skip
            Case(
                "read-only",
                "translate apply --output on a read-only filesystem",
                [
                    "translate",
                    "apply",
                    "--checkpoint",
                    str(f["ckpt"]),
                    "--input",
                    str(f["good"]),
                    "--output",
                    str(ro / "out"),
                ],
                "translator|read-only",
            ),  # fmt: skip
        ]
    partial = ["semi-supervised", "--no-prefect", "--quiet", "--epochs", "5", "--seeds", "0",
               "--max-minutes", "0.05", "--run-dir", str(full / "run")]  # fmt: skip
    if try_mount(full, "32m"):
        (full / "datasets" / "good").mkdir(parents=True)
        shutil.copytree(f["version"], full / "datasets" / "good" / "v1")
        run_cli(partial)  # a run stopped by its time budget, with its checkpoint
        # the partial run may have filled the disk already: then even the open fails
        with contextlib.suppress(OSError), open(full / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()

        def visible() -> list[str]:
            return sorted(q.name for q in (full / "datasets" / "good").iterdir() if not q.name.startswith("."))  # fmt: skip

        def nothing_published() -> str | None:
            left = [
                p.name for p in (full / "datasets" / "good").iterdir() if p.name.startswith(".")
            ]
            return f"versions {visible()}, leftovers {left}" if visible() != ["latest", "v1"] and visible() != ["v1"] or left else None  # fmt: skip

        ss = ["semi-supervised", "--no-prefect", "--quiet", "--epochs", "1"]
        out += [
            Case(
                "full disk",
                "export onto a full disk",
                [
                    "export",
                    "--no-prefect",
                    "--quiet",
                    "--checkpoint",
                    str(f["ckpt"]),
                    "--name",
                    "good",
                    "--per-class",
                    "50",
                    "--root",
                    str(full / "datasets"),
                ],
                "full",
                protect=[full / "datasets" / "good" / "v1"],
                check=nothing_published,
            ),  # fmt: skip
            Case(
                "full disk",
                "a new run on a full disk",
                [*ss, "--run-dir", str(full / "new")],
                "full",
                check=lambda: f"{full / 'new'} left behind" if (full / "new").exists() else None,
            ),  # fmt: skip
            Case(
                "full disk",
                "a checkpoint on a full disk: the previous one kept",
                partial,
                "full",
                protect=[full / "run" / "seed0" / "gan" / "checkpoint.pt"],
                check=lambda: (
                    "temporary files left" if list((full / "run").rglob(".*.tmp*")) else None
                ),
            ),  # fmt: skip
        ]
    return out


# --- running and classifying ------------------------------------------------------------

ERROR_LINE = re.compile(r"^ganflow[\w -]*: error: ")


def run_case(case: Case, in_process: bool) -> Outcome:
    before = {p: sha(p) for p in case.protect}
    t0 = time.monotonic()
    if in_process and not case.own_process:
        code, err, said = _in_process(case.argv)
    else:
        done = run_cli(case.argv, case.env)
        code, err, said = done.returncode, done.stderr, done.stdout
    seconds = time.monotonic() - t0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    lost = [str(p) for p in case.protect if sha(p) != before[p]]
    problem = case.check() if case.check is not None else None
    if lost:
        verdict, line = "lost", f"changed: {', '.join(lost)}"
    elif "Traceback (most recent call last)" in err:
        verdict = "traceback"
        line = next((ln for ln in reversed(lines) if not ln.startswith(" ")), line)
    elif case.expect == "ok":
        verdict = "ok" if code == 0 and not problem else "failed"
    elif code == 0:
        verdict = "silent"
    elif problem:
        verdict, line = "lost", problem
    elif not _error_said(case, code, line) or case.names and not re.search(case.names, err + said):
        verdict = "unclear"
    elif case.own_process and len(lines) > 3:
        verdict, line = "unclear", f"{len(lines)} lines on the terminal: {line}"
    else:
        verdict = "clear"
    return Outcome(case, verdict, code, line[:300], seconds)


def _error_said(case: Case, code: int, line: str) -> bool:
    """An error line last on stderr, or `datasets verify`'s report of problems (exit 1)."""
    return bool(ERROR_LINE.match(line)) or (case.argv[:2] == ["datasets", "verify"] and code == 1)


def _in_process(argv: list[str]) -> tuple[int, str, str]:
    from ganflow.flows.cli import main

    err, out = io.StringIO(), io.StringIO()
    environ = dict(os.environ)  # a case must not leave settings (a server's URL) to the next
    from ganflow.flows import api_server

    started, real_prestart = [], api_server.prestart

    def prestart(*a: Any) -> Any:  # ... nor a temporary Prefect server running
        server = real_prestart(*a)
        started.append(server)
        return server

    api_server.prestart = prestart
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = int(e.code or 0)
        except BaseException as e:  # what would reach the user as a traceback
            import traceback

            traceback.print_exc(file=err)
            code = 1 if not isinstance(e, KeyboardInterrupt) else 130
        finally:
            api_server.prestart = real_prestart
            for server in started:
                if server is not None:
                    server.stop()
            os.environ.clear()
            os.environ.update(environ)
    return code, err.getvalue(), out.getvalue()


# --- kills ------------------------------------------------------------------------------

TRAIN_SCRIPT = """
import json, os, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig
import ganflow.tasks.io as gio
bundle, out, started = sys.argv[1], sys.argv[2], sys.argv[3]
if os.environ.get("KILL_IN_WRITE"):  # stop inside a checkpoint write, after the bytes, before the rename
    real = gio.os.replace
    def slow_replace(a, b):
        if str(b).endswith("checkpoint.pt"):
            Path(started + ".writing").write_text(str(a))
            time.sleep(30)
        return real(a, b)
    gio.os.replace = slow_replace
cfg = SSGANConfig().with_overrides({"batch_size": 20, "labelled_batch_size": 10})
run = RunConfig(epochs=2, seed=5, device="cpu", log_every=1, eval_every=10**6, checkpoint_every=4)
def hook(step, total, logs):
    Path(started).write_text(f"{step} {total}")
train(bundle, cfg, run, out, "gan", progress=hook)
"""


def _train(
    bundle: str, out: Path, started: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, bundle, str(out), str(started)],
                            env={**os.environ, **(env or {})}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _states(path: Path) -> dict[str, Any]:
    import torch

    ck = torch.load(path, weights_only=True)
    flat: dict[str, Any] = {"step": ck["step"]}

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(obj, list | tuple):
            for i, v in enumerate(obj):
                walk(f"{prefix}.{i}", v)
        else:
            flat[prefix] = obj

    walk("state", ck["state"])
    return flat


def same_states(a: Path, b: Path) -> str | None:
    import torch

    sa, sb = _states(a), _states(b)
    if sa.keys() != sb.keys():
        return f"different entries: {sorted(set(sa) ^ set(sb))[:3]}"
    for k in sa:
        x, y = sa[k], sb[k]
        same = torch.equal(x, y) if torch.is_tensor(x) and torch.is_tensor(y) else x == y
        if not same:
            return f"{k} differs"
    return None


def _reported(started: Path) -> tuple[int, int]:
    try:
        step, total = started.read_text().split()
        return int(step), int(total)
    except (OSError, ValueError):
        return 0, 1 << 30


def kill_training(w: Path, points: int = 10, seed: int = 0) -> list[Outcome]:
    """SIGKILL one training at `points` random moments (one of them inside a checkpoint
    write), resuming each time, then let it finish: bit-identical to an unbroken run?"""
    from ganflow.tasks.data.bundle import DataSpec, prepare

    rng = random.Random(seed)
    k = w / "kills"
    shutil.rmtree(k, ignore_errors=True)
    k.mkdir(parents=True)
    bundle = prepare(DataSpec(name="digits", labels_per_class=5, seed=0), k / "data")["path"]
    t0 = time.monotonic()
    p = _train(bundle, k / "unbroken", k / "u.started")
    if p.wait() != 0:
        return [Outcome(Case("kills", "training: the unbroken run", [], command="semi-supervised"), "failed", p.returncode, p.stderr.read().decode()[-300:], 0)]  # fmt: skip
    out: list[Outcome] = []
    kills, in_write = 0, False
    for i in range(points + 1):
        started = k / f"s{i}"
        during_write = i == points // 2
        p = _train(bundle, k / "killed", started, {"KILL_IN_WRITE": "1"} if during_write else None)
        if i == points:  # the last start runs to the end
            code = p.wait()
            err = p.stderr.read().decode()
            problem = same_states(k / "unbroken" / "checkpoint.pt", k / "killed" / "checkpoint.pt") if code == 0 else err[-300:]  # fmt: skip
            leftovers = [q.name for q in (k / "killed").iterdir() if q.name.endswith(".tmp")]
            verdict = "clear" if not problem and not leftovers else "lost"
            line = problem or (f"leftovers {leftovers}" if leftovers else f"{kills} kills (one inside a checkpoint write: {in_write}), then bit-identical to the unbroken run")  # fmt: skip
            out.append(Outcome(Case("kills", f"training: SIGKILL at {points} random points, resumed", [], command="semi-supervised"), verdict, code, line, time.monotonic() - t0))  # fmt: skip
            break
        while not started.exists() and p.poll() is None:
            time.sleep(0.02)
        if during_write:
            while not Path(str(started) + ".writing").exists() and p.poll() is None:
                time.sleep(0.02)
            in_write = p.poll() is None
        else:  # a random moment past the i-th of points+1 equal parts of the run
            while p.poll() is None:
                step, total = _reported(started)
                if step >= total * (i + rng.random()) / (points + 1):
                    break
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.2))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    return out


def kill_when(argv: list[str], ready: Any) -> None:
    """Run the command and SIGKILL it as soon as ready() is true (or let it end first)."""
    p = subprocess.Popen([*GANFLOW, *argv], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)  # fmt: skip
    while p.poll() is None and not ready():
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()


def kill_export(f: dict[str, Path], w: Path) -> Outcome:
    root = w / "kill-export"
    shutil.rmtree(root, ignore_errors=True)
    argv = ["export", "--no-prefect", "--quiet", "--checkpoint", str(f["ckpt"]), "--name", "k",
            "--per-class", "400", "--balance", "natural", "--root", str(root)]  # fmt: skip
    t0 = time.monotonic()
    kill_when(
        argv, lambda: (root / "k").is_dir() and any((root / "k").glob(".tmp-*/images/*/*.png"))
    )
    visible = [q.name for q in (root / "k").iterdir() if not q.name.startswith(".")] if (root / "k").is_dir() else []  # fmt: skip
    again = run_cli(argv)
    after = sorted(q.name for q in (root / "k").iterdir())
    ok = not visible and again.returncode == 0 and after == ["latest", "v1"]
    line = f"after the kill: visible {visible or 'nothing'}; rerun exit {again.returncode}, then {after}"
    return Outcome(Case("kills", "export: SIGKILL while writing, then rerun", [], command="export"), "clear" if ok else "lost", again.returncode, line, time.monotonic() - t0)  # fmt: skip


def kill_flow(w: Path) -> Outcome:
    """A Prefect flow killed between its tasks (after data preparation), then rerun."""
    run = w / "kill-flow"
    shutil.rmtree(run, ignore_errors=True)
    argv = ["semi-supervised", "--quiet", "--epochs", "1", "--seeds", "0", "--run-dir", str(run)]
    t0 = time.monotonic()
    kill_when(argv, lambda: (run / "data").is_dir() and any((run / "data").glob("*.pt")))
    again = run_cli([*argv, "--json"])
    ok = again.returncode == 0 and (run / "report.md").is_file()
    line = f"rerun exit {again.returncode}; report {'written' if ok else 'missing'}: {again.stderr.strip()[-200:]}"
    return Outcome(Case("kills", "flow: SIGKILL between tasks (after data preparation), then rerun", [], command="semi-supervised"), "clear" if ok else "lost", again.returncode, line, time.monotonic() - t0)  # fmt: skip


# --- load: concurrent flows on one server -----------------------------------------------


def load_test(f: dict[str, Path], w: Path, n: int = 20) -> Outcome:
    from ganflow.flows.api_server import prestart

    root = w / "load"
    shutil.rmtree(root, ignore_errors=True)
    os.environ.pop("PREFECT_API_URL", None)
    server = prestart(["export"], {"export"})
    t0 = time.monotonic()
    try:
        server.ready()
        env = {"PREFECT_API_URL": server.url, "OMP_NUM_THREADS": "1"}
        argv = ["export", "--quiet", "--json", "--checkpoint", str(f["ckpt"]), "--name", "load",
                "--per-class", "2", "--balance", "natural", "--root", str(root)]  # fmt: skip
        procs = [subprocess.Popen([*GANFLOW, *argv], cwd=REPO, env={**os.environ, **env},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(n)]  # fmt: skip
        results = [(p.wait(timeout=1800), p.stdout.read(), p.stderr.read()) for p in procs]
    finally:
        server.stop()
    failed = [err.strip().splitlines()[-1:] for code, _, err in results if code != 0]
    versions = sorted(json.loads(out)["version"] for code, out, _ in results if code == 0)
    on_disk = sorted(int(p.name[1:]) for p in (root / "load").glob("v*"))
    ok = not failed and versions == list(range(1, n + 1)) == on_disk
    # lost: a version given twice, or one on disk that no flow reported (or the reverse);
    # a flow that failed and left nothing behind is a failure, not a loss
    kept = versions == sorted(set(versions)) == on_disk
    verdict = "clear" if ok else "failed" if kept else "lost"
    line = f"{n - len(failed)}/{n} completed; versions {versions[:3]}..{versions[-1:]} (distinct {len(set(versions))}), on disk {len(on_disk)}"  # fmt: skip
    return Outcome(Case("concurrent flows", f"{n} export flows at once against one Prefect server", [], command="export"), verdict, 0 if ok else 1, line + (f"; failures: {failed[:2]}" if failed else ""), time.monotonic() - t0)  # fmt: skip


# --- report -----------------------------------------------------------------------------


def _counts(got: list[Outcome]) -> dict[str, int]:
    return {
        "tried": len(got),
        "clear": sum(o.verdict in ("clear", "ok") for o in got),
        "tracebacks": sum(o.verdict == "traceback" for o in got),
        "silent": sum(o.verdict == "silent" for o in got),
        "unclear": sum(o.verdict in ("unclear", "failed") for o in got),
        "lost": sum(o.verdict == "lost" for o in got),
    }


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    rows = {cls: _counts([o for o in outcomes if o.case.cls == cls]) for cls in CLASSES}
    rows = {k: r for k, r in rows.items() if r["tried"]}
    commands = sorted({o.case.command for o in outcomes})
    by_command = {c: _counts([o for o in outcomes if o.case.command == c]) for c in commands}
    total = _counts(outcomes)
    return {"classes": rows, "commands": by_command, "total": total,
            "cases": [{"class": o.case.cls, "command": o.case.command, "case": o.case.name, "verdict": o.verdict, "exit": o.code,
                       "line": o.line, "seconds": round(o.seconds, 1)} for o in outcomes]}  # fmt: skip


def table(summary: dict[str, Any]) -> str:
    lines = []
    for title, rows in (("class", summary["classes"]), ("command", summary.get("commands", {}))):
        head = f"{title:<24} {'tried':>5} {'clear':>6} {'tracebacks':>10} {'silent':>7} {'unclear':>8} {'lost':>5}"
        lines += [*(lines and [""]), head, "-" * len(head)]
        for name, r in [*rows.items(), ("total", summary["total"])]:
            lines.append(f"{name:<24} {r['tried']:>5} {r['clear']:>6} {r['tracebacks']:>10} {r['silent']:>7} {r['unclear']:>8} {r['lost']:>5}")  # fmt: skip
    bad = [c for c in summary["cases"] if c["verdict"] not in ("clear", "ok")]
    if bad:
        lines += ["", "not handled well:"]
        lines += [
            f"  [{c['verdict']}] {c['class']}: {c['case']} (exit {c['exit']}): {c['line']}"
            for c in bad
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="work folder (default: a new temporary one)")
    ap.add_argument("--in-process", action="store_true", help="call main() here (quick)")
    ap.add_argument("--load", action="store_true", help="also the 20-flow load test")
    ap.add_argument("--no-kills", action="store_true", help="leave the kill cases out")
    ap.add_argument(
        "--kill-points", type=int, default=10, help="random moments one training is killed at"
    )
    ap.add_argument("--workers", type=int, default=2, help="cases run at once (subprocesses)")
    ap.add_argument("--only", default=None, help="only cases whose name matches this regex")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    w = Path(a.out or tempfile.mkdtemp(prefix="ganflow-faults-")).resolve()
    w.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GANFLOW_DATA", str(w / "ganflow-data"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    f = build_fixtures(w)
    todo = [*cases(f, w), *disk_cases(f, w)]
    if a.only:
        todo = [c for c in todo if re.search(a.only, c.name)]
    (w / "scratch").mkdir(exist_ok=True)
    t0 = time.monotonic()
    try:
        if a.in_process:
            outcomes = [run_case(c, True) for c in todo]
        else:
            with ThreadPoolExecutor(a.workers) as pool:
                outcomes = list(pool.map(lambda c: run_case(c, False), todo))
        if not a.no_kills and not a.only:
            outcomes += kill_training(w, max(1, a.kill_points))
            outcomes.append(kill_export(f, w))
            outcomes.append(kill_flow(w))
        if a.load:
            outcomes.append(load_test(f, w))
    finally:
        for m in (w / "mnt-ro", w / "mnt-full"):
            unmount(m)
    summary = summarise(outcomes)
    summary["wall_s"] = round(time.monotonic() - t0, 1)
    summary["work"] = str(w)
    print(json.dumps(summary, indent=1) if a.json else table(summary) + f"\n\n{summary['wall_s']} s; fixtures under {w}")  # fmt: skip
    t = summary["total"]
    return 0 if t["tracebacks"] == t["silent"] == t["lost"] == t["unclear"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
