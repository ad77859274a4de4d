"""Files: atomic writes, run directories, checksums, and where ganflow keeps its data.

Every file ganflow writes goes through `atomic_write`: a temporary file in the same
directory, flushed and fsynced, then renamed over the target (atomic on POSIX), so a reader
sees the old file or the new one, never half of one; on any error the temporary file is
removed at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def default_data_dir() -> Path:
    """The root of data sets, caches, runs and exports, as command-line tools choose one:
    `ganflow --data-dir DIR`, else $GANFLOW_DATA, else data/ in the working directory (never
    beside the installed package, which may be read-only and is replaced on upgrade)."""
    return Path(os.environ.get("GANFLOW_DATA") or Path.cwd() / "data").absolute()


DATA_DIR = default_data_dir()


def use_data_dir(path: str | Path) -> Path:
    """Make `path` the data root of this process and of the processes it starts (torchrun
    ranks, Dask workers inherit $GANFLOW_DATA): every loaded ganflow module's DATA_DIR and
    DATASETS_DIR are moved to it. Returns the absolute root."""
    import sys

    global DATA_DIR
    root = Path(path).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise ValueError(f"--data-dir {path} is a file; give a folder (it is created if missing)")
    old = DATA_DIR
    os.environ["GANFLOW_DATA"] = str(root)
    for name, module in list(sys.modules.items()):
        if not name.startswith("ganflow.") or module is None:
            continue
        if getattr(module, "DATA_DIR", None) == old:
            module.DATA_DIR = root
        if getattr(module, "DATASETS_DIR", None) == old / "datasets":
            module.DATASETS_DIR = root / "datasets"
    DATA_DIR = root
    return root


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; on a clean exit it is fsynced and
    renamed to `path`, on an error it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


_TEMP_RE = re.compile(r"^\..+\.(\d+)-[0-9a-f]{6}\.tmp")


def sweep_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temporary files atomic_write left in folder when its process was killed
    (their process is gone); a live writer's are kept. Returns what was removed."""
    removed = []
    for f in Path(folder).glob(".*.tmp*") if Path(folder).is_dir() else []:
        m = _TEMP_RE.match(f.name)
        if not m or not f.is_file():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # its writer is alive
        except PermissionError:
            continue
        except (ProcessLookupError, OverflowError):
            pass
        f.unlink(missing_ok=True)
        removed.append(f)
    return removed


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_write(path) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=str))


def save_torch(path: str | Path, obj: Any) -> Path:
    """torch.save through atomic_write (tensors, state dicts: no modules)."""
    import torch

    with atomic_write(path) as f:
        torch.save(obj, f)
    return Path(path)


def save_arrays(path: str | Path, meta: dict[str, Any], arrays: dict[str, Any]) -> Path:
    """Arrays and a JSON-able meta record in one uncompressed .npz, through atomic_write;
    read back with load_arrays."""
    import numpy as np

    with atomic_write(path) as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
    return Path(path)


def load_arrays(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, arrays) of a file save_arrays wrote, the arrays in memory."""
    import numpy as np

    with np.load(path) as z:
        return json.loads(str(z["meta"])), {k: z[k] for k in z.files if k != "meta"}


def write_run_summary(
    run_dir: Path, summary: dict[str, Any], report: Callable[[dict[str, Any]], str]
) -> dict[str, Any]:
    """A flow's summary as run_dir/metrics.json and its report(summary) as run_dir/report.md;
    the summary gains the two paths (`metrics`, `report`)."""
    write_json(run_dir / "metrics.json", summary)
    summary["metrics"] = str(run_dir / "metrics.json")
    write_text(run_dir / "report.md", report(summary))
    summary["report"] = str(run_dir / "report.md")
    return summary


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """For libraries that write to a file name themselves (PIL, matplotlib, zipfile):
    writer(tmp_path) writes a temporary file beside `path`, which is fsynced and renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp{path.suffix}")
    try:
        writer(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def new_run_dir(flow: str, root: str | Path | None = None) -> Path:
    """A new directory name under <data>/runs: <flow>-<date>-<time>-<random>, so two runs
    started in the same second do not collide. Not created here."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root or DATA_DIR / "runs") / f"{flow}-{stamp}-{secrets.token_hex(3)}"


RUN_MARK = ".ganflow-run.json"  # in every run directory: which flow owns it, with what config

# settings that may change when a run is resumed: where and how long it runs, not what
RESUMABLE_WITH_OTHER = {"max_minutes", "device", "precision", "workers", "dask_address", "gpus",
                        "run_dir", "cache_dir", "compile"}  # fmt: skip

# run directories this process created, to remove again when the command fails before
# anything but the mark was written (a failed run leaves no empty directory behind)
_created: list[Path] = []


class RunDirError(ValueError):
    """A run directory that cannot be used: a file, another flow's run, a data set version."""


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted((set(saved) | set(current)) - RESUMABLE_WITH_OTHER)
    return [f"{k}: {saved.get(k)!r} there, {current.get(k)!r} now" for k in keys
            if json.dumps(saved.get(k), sort_keys=True, default=str)
            != json.dumps(current.get(k), sort_keys=True, default=str)]  # fmt: skip


def published_version(path: str | Path) -> Path | None:
    """The published data set version (a folder with a manifest.json) that path lies in or
    is, following links; None when it lies in none."""
    p = Path(path).absolute()
    for q in (p, *p.parents, *((r := p.resolve()), *r.parents)):
        if (q / "manifest.json").is_file():
            return q
    return None


def check_new_output(path: str | Path, what: str = "--output", folder: bool = False) -> Path:
    """The rule for every file or folder a command writes by a path the user gave, checked
    before anything is written: never inside a published data set version, never over a
    file that exists (a folder: one that is empty may be filled), never through a link.
    Raises OutputPathError with one line naming the path and the rule."""
    p = Path(path)
    version = published_version(p)
    if version is not None:
        raise OutputPathError(
            f"{what} {p} is inside the published data set version {version}: versions are "
            "never written into; give another path"
        )
    if p.is_symlink():
        raise OutputPathError(
            f"{what} {p} is a link; give a plain path (nothing is written through links)"
        )
    if folder:
        if p.exists() and not p.is_dir():
            raise OutputPathError(f"{what} {p} is a file; give a new or empty folder")
        if p.is_dir() and any(p.iterdir()):
            raise OutputPathError(
                f"{what} {p} is not empty: nothing is overwritten; give a new or empty folder"
            )
    elif p.exists():
        raise OutputPathError(f"{what} {p} exists; it is not overwritten (give another path)")
    parent = p.absolute().parent
    if not parent.is_dir():
        raise OutputPathError(f"{what} {p}: its folder {parent} does not exist")
    return p


class OutputPathError(ValueError):
    """An output path a command must not write: inside a published version, an existing
    file, a non-empty folder, a link."""


def claim_run_dir(
    path: str | Path | None,
    flow: str,
    fresh: str | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """The run directory of a `flow` run with `config` (its params): `path`, or a new one
    named after `fresh` (or the flow). Refused, before anything is written: a file; a
    directory inside a published data set version; another flow's run; the same flow's run
    with another config (what may differ: RESUMABLE_WITH_OTHER); a non-empty directory that
    is no ganflow run. The same run is resumed. The directory is created and marked."""
    p = Path(path) if path else new_run_dir(fresh or flow)
    if p.exists() and not p.is_dir():
        raise RunDirError(f"run directory {p} is a file; give a directory (or none for a new one)")
    q = published_version(p)
    if q is not None:
        raise RunDirError(
            f"run directory {p} is inside the published data set version {q}: versions are "
            "never written into; give another directory"
        )
    mark = p / RUN_MARK
    if mark.is_file():
        try:
            owned = json.loads(mark.read_text())
            owner = owned.get("flow")
        except (OSError, ValueError, AttributeError):
            owned, owner = {}, None
        if owner != flow:
            raise RunDirError(
                f"run directory {p} holds a {owner or 'unknown'} run; a {flow} run needs a "
                "directory of its own (that one is left untouched)"
            )
        if config is not None and isinstance(owned.get("config"), dict):
            diff = _differences(owned["config"], config)
            if diff:
                raise RunDirError(
                    f"run directory {p} holds a {flow} run with other settings ({'; '.join(diff[:3])}"
                    f"{'; ...' if len(diff) > 3 else ''}); resuming needs the same settings: give "
                    "another --run-dir for a new run (that one is left untouched)"
                )
        return p
    if p.is_dir() and any(p.iterdir()):
        raise RunDirError(
            f"run directory {p} is not empty and is no ganflow run (it has no {RUN_MARK}); "
            "give a new or empty directory (it is left untouched)"
        )
    if not p.exists():
        _created.append(p)
    p.mkdir(parents=True, exist_ok=True)
    mark_doc = {"flow": flow, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(mark, {**mark_doc, **({"config": config} if config is not None else {})})
    return p


def discard_empty_runs() -> list[Path]:
    """Remove the run directories this process created that hold nothing but their mark
    (and empty folders): called when a command fails. Returns what was removed."""
    import shutil

    removed = []
    while _created:
        p = _created.pop()
        try:
            files = [f for f in p.rglob("*") if not f.is_dir()]
        except OSError:
            continue
        if all(f.name == RUN_MARK and f.parent == p for f in files):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def digest(*parts: Any) -> str:
    """sha256 hex of the parts, in order: strings, bytes, and arrays or tensors (each by its
    shape, dtype and bytes): the content key of every cache."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        if not isinstance(part, bytes):
            a = np.ascontiguousarray(
                part.detach().cpu().numpy() if hasattr(part, "detach") else part
            )
            h.update(f"{a.shape}{a.dtype}".encode())
            part = a.tobytes()
        h.update(part)
    return h.hexdigest()


def read_keyed_json(path: str | Path, key: str) -> dict[str, Any] | None:
    """A cache entry written as {"key": key, ...}; None when it is absent, unreadable or
    written under another key (a cache file holds nothing that cannot be remade)."""
    try:
        entry = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry.get("key") == key else None


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
