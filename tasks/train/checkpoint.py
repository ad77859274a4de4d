"""Checkpoints: a dict of state_dicts + RNG states + step + config + format version.

Written to a temporary file in the same directory and renamed (atomic on POSIX), loaded with
torch.load(weights_only=True): no pickled modules, nothing executable.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganflow.models.registry import FAMILIES, Run
from ganflow.tasks.io import save_torch

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, of another format, or from another config."""


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | Path,
    stateful: dict[str, Any],
    step: int,
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """stateful: name -> object with state_dict() (modules, optimisers, schedulers, EMA, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "step": int(step),
        "config": config,
        "state": {name: obj.state_dict() for name, obj in stateful.items()},
        "rng": rng_state(),
        **(extra or {}),
    }
    return save_torch(path, payload)


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", family: str | None = None
) -> dict[str, Any]:
    """The checkpoint dict; with `family`, a checkpoint of another model family is refused."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(path.rglob("checkpoint.pt"))[:1]
        hint = f", e.g. {inside[0]}" if inside else ""
        raise CheckpointError(f"checkpoint {path} is a directory; give a checkpoint file{hint}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated file, not a torch file, unsafe content
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                f"checkpoint {path} is not a checkpoint file (no torch archive: truncated, or "
                "another kind of file)"
            ) from e
        if isinstance(e, pickle.UnpicklingError):
            raise CheckpointError(
                f"checkpoint {path} holds objects other than tensors and plain values; ganflow "
                "loads only those (torch.load weights_only), so it is not read"
            ) from e
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read: {first}") from e
    version = ckpt.get("format_version") if isinstance(ckpt, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}; this ganflow reads version {FORMAT_VERSION}"
        )
    for key, kind in (("config", dict), ("state", dict), ("step", int)):
        if not isinstance(ckpt.get(key), kind):
            raise CheckpointError(
                f"checkpoint {path} is malformed: {key!r} is missing or not a {kind.__name__}"
            )
    found = ckpt["config"].get("family")
    if found not in FAMILIES:
        raise CheckpointError(
            f"checkpoint {path} is of an unknown model family {found!r}; known: {', '.join(FAMILIES)}"
        )
    if family is not None and found != family:
        raise CheckpointError(
            f"{path} is not {FAMILIES[family].title} checkpoint (it is {FAMILIES[found].title}'s)"
        )
    return ckpt


# a checkpoint's entries that every family has; the rest are a family's extras
_CORE = {"format_version", "step", "config", "state", "rng", "history", "class_names",
         "fingerprint"}  # fmt: skip


def _reason(e: BaseException) -> str:
    """What is wrong, in words: a KeyError's bare key ('D') becomes 'no entry D'."""
    if isinstance(e, KeyError) and e.args and isinstance(e.args[0], str) and " " not in e.args[0]:
        return f"it has no entry {e.args[0]} (the state of a network or an optimiser)"
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


def load_run(
    path: str | Path, device: str | torch.device = "cpu", family: str | None = None
) -> Run:
    """The trained run behind a checkpoint, whatever its family: config, networks (in eval
    mode, on `device`, with the weights the family evaluates with), record, history."""
    ckpt = load_checkpoint(path, map_location=device, family=family)
    record = ckpt["config"]
    fam = FAMILIES[record["family"]]
    try:
        cfg = fam.config.from_record(record["model"])
        modules = fam.build(cfg, record)
        fam.load(modules, ckpt["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"checkpoint {path} does not hold a loadable {fam.name} run: {_reason(e)}"
        ) from e
    for m in modules.values():
        m.to(device).eval()
    return Run(
        fam,
        cfg,
        modules,
        record,
        int(ckpt["step"]),
        list(ckpt.get("history", [])),
        list(ckpt.get("class_names") or []),
        dict(ckpt.get("fingerprint") or {}),
        {k: v for k, v in ckpt.items() if k not in _CORE},
    )


def config_differences(
    saved: dict[str, Any], current: dict[str, Any], prefix: str = ""
) -> list[str]:
    """Human-readable list of the fields where two nested config dicts differ."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: checkpoint has {a!r}, this run has {b!r}")
    return out


def restore(stateful: dict[str, Any], ckpt: dict[str, Any]) -> None:
    missing = set(stateful) - set(ckpt["state"])
    if missing:
        raise CheckpointError(f"checkpoint lacks state for {sorted(missing)}")
    for name, obj in stateful.items():
        obj.load_state_dict(ckpt["state"][name])
    set_rng_state(ckpt["rng"])
