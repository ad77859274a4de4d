"""One training over several processes (GPUs, or CPU processes with gloo), started by torchrun.

`launch(family, payload, nproc)` runs `torchrun --standalone --nproc-per-node N -m
ganflow.tasks.train.distributed` and returns rank 0's result: the Prefect task, the flow and
the cache around it stay in the calling process; only the training is spread.

How the work is split (the same for every family; nothing in models/ knows of it):

- Every rank builds the same networks from the same seed (rank 0's weights are broadcast
  to be sure) and draws the same batches, noise and augmentations: the data streams are
  step-pure and the global RNG advances alike on every rank.
- `shard`: each network's forward takes its rank's 1/N of the batch, runs it, and gathers
  the outputs of all ranks (torch.distributed.nn's all_gather, which carries gradients), so
  every loss is computed on the whole batch, exactly as one process would. The forward and
  backward passes through the networks, the expensive part, are split N ways.
- `GradSync`: after each phase's backward, the gradients of that phase's modules are
  averaged over the ranks (all-reduce), before the optimiser step: the same update on every
  rank, as DistributedDataParallel makes.
- batch_size is the global batch: a 2-process run with batch 2B is a 1-process run with
  batch 2B, with each process computing B. A checkpoint therefore resumes with any number of
  ranks. Rank 0 alone writes checkpoints and draws progress.

What this means per piece (README: "One run on several GPUs"):
- batch norm: per-rank statistics over each rank's shard (no SyncBatchNorm); the K+1 GAN's
  virtual batch norm normalises with its fixed reference batch, the same on every rank.
- minibatch discrimination: compares samples within a rank's shard.
- in-network noise and dropout: drawn per shard (the same distribution, other draws).
- historical averaging, EMA, the replay pool and the VBN reference batch: identical on every
  rank (same updates), saved once by rank 0.
- the K+1 labelled stream: every rank draws the same labelled batch; each computes its part.
A batch that does not split evenly over the ranks is refused while training (a clear error
naming it); outside training (validation) such a batch runs whole on every rank.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

# family -> "module:function" run on every rank with the payload
TARGETS = {
    "ssgan": "ganflow.tasks.train.ssgan:train_rank",
    "aae": "ganflow.tasks.train.aae:train_rank",
    "gan": "ganflow.tasks.train.gan:train_rank",
    "translation": "ganflow.tasks.train.translation:train_rank",
    "text2image": "ganflow.tasks.train.text2image:train_rank",
}


class DistributedTrainingError(RuntimeError):
    """The processes of a spread training failed (their errors are on stderr)."""


def check_split(
    gpus: int, cfg: Any, names: Sequence[str] = ("batch_size",), what: str = ""
) -> None:
    """Refuse (ConfigError) a process count below 1, or a batch size of cfg that does not
    divide over the processes: every process computes the same share of every batch."""
    from ganflow.models.config import ConfigError

    if gpus < 1:
        raise ConfigError(f"gpus must be at least 1, got {gpus}")
    for name in names:
        if getattr(cfg, name) % gpus:
            raise ConfigError(
                f"{what}{name} {getattr(cfg, name)} does not split over {gpus} processes "
                f"(--gpus): use a multiple of {gpus} (--set {name}=...)"
            )


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_world()[0] == 0


def agree(*flags: bool) -> tuple[bool, ...]:
    """Each flag true on every rank when it is true on any: decisions taken from a rank's own
    clock (stop on the time budget, a checkpoint that is due) must be the same everywhere, or
    one rank leaves the loop while the others wait in a collective."""
    if rank_world()[1] == 1:
        return tuple(flags)
    t = torch.tensor([float(f) for f in flags])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def _batch_len(args: Sequence[Any], kwargs: dict[str, Any]) -> int | None:
    for a in (*args, *kwargs.values()):
        if torch.is_tensor(a) and a.dim() > 0:
            return len(a)
    return None


def _gather(out: Any, k: int) -> Any:
    """The outputs of every rank's shard, concatenated in rank order (gradients flow back)."""
    import torch.distributed.nn.functional as F

    if torch.is_tensor(out) and out.dim() > 0 and len(out) == k:
        if not torch.is_grad_enabled() or not out.requires_grad:
            parts = [torch.empty_like(out) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, out.contiguous())
            return torch.cat(parts)
        with warnings.catch_warnings():  # deprecated for a private API; kept for torch 2.11
            warnings.simplefilter("ignore", FutureWarning)
            return torch.cat(F.all_gather(out))
    if isinstance(out, tuple | list):
        return type(out)(_gather(o, k) for o in out)
    return out


def shard(module: nn.Module, counter: dict[str, int] | None = None) -> nn.Module:
    """Patch module's forward (in place; its state_dict is unchanged) to run this rank's
    1/N of the batch and return everyone's outputs. counter[name] counts the images it saw."""
    rank, world = rank_world()
    if world == 1:
        return module
    inner = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        n = _batch_len(args, kwargs)
        if n is None or n % world != 0:
            if torch.is_grad_enabled() and module.training:
                raise ValueError(
                    f"a training batch of {n} does not split evenly over {world} ranks; "
                    f"use batch sizes divisible by {world}"
                )
            return inner(*args, **kwargs)
        k = n // world

        def part(t: Any) -> Any:
            return t[rank * k : (rank + 1) * k] if torch.is_tensor(t) and t.dim() > 0 and len(t) == n else t  # fmt: skip

        if counter is not None and module.training:
            counter["images"] = counter.get("images", 0) + k
        return _gather(inner(*[part(a) for a in args], **{a: part(v) for a, v in kwargs.items()}), k)  # fmt: skip

    module.forward = forward  # type: ignore[method-assign]
    return module


class GradSync:
    """After a phase's backward: each gradient of its modules averaged over the ranks."""

    def __call__(self, modules: Sequence[nn.Module]) -> None:
        _, world = rank_world()
        if world == 1:
            return
        grads = [p.grad for m in modules for p in m.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])  # one collective, not one per tensor
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def broadcast_modules(modules: dict[str, nn.Module]) -> None:
    """Rank 0's parameters and buffers on every rank."""
    for m in modules.values():
        for t in [*m.parameters(), *m.buffers()]:
            dist.broadcast(t.data, 0)


def distribute(models: dict[str, nn.Module], counter: dict[str, int]) -> GradSync:
    broadcast_modules(models)
    for m in models.values():
        shard(m, counter)
    return GradSync()


def rank_device(preference: str) -> torch.device:
    """cuda:LOCAL_RANK when CUDA is there and asked for (or auto), else the CPU."""
    local = int(os.environ.get("LOCAL_RANK", 0))
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    if preference.startswith("cuda"):
        raise ValueError(f"--gpus runs one process per GPU on cuda:0..N-1; device {preference!r} is not for it")  # fmt: skip
    return torch.device("cpu")


def launch(
    family: str,
    payload: dict[str, Any],
    nproc: int,
    out_dir: str | Path,
    tensors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """torchrun with nproc processes on this machine, each running TARGETS[family] on the
    payload (and `tensors`, passed as a torch file: payload["tensors"] names it); rank 0's
    result. Raises DistributedTrainingError when a rank fails."""
    if nproc < 1:
        raise ValueError(f"gpus must be at least 1, got {nproc}")
    if torch.cuda.is_available() and nproc > torch.cuda.device_count():
        raise ValueError(f"--gpus {nproc}: only {torch.cuda.device_count()} CUDA device(s) here")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".launch-") as tmp:
        spec, result = Path(tmp) / "payload.json", Path(tmp) / "result.json"
        if tensors is not None:
            torch.save(tensors, Path(tmp) / "tensors.pt")
            payload = {**payload, "tensors": str(Path(tmp) / "tensors.pt")}
        spec.write_text(json.dumps({"family": family, "payload": payload, "result": str(result)}))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", "-m", "ganflow.tasks.train.distributed", str(spec)]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))}  # fmt: skip
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=None, text=True)
        if not result.is_file():
            raise DistributedTrainingError(
                f"distributed training ({nproc} processes) failed with exit code {done.returncode}; "
                "the ranks' errors are above"
            )
        if done.returncode != 0:
            # rank 0 writes the result after its last step and checkpoint, which every rank
            # took with it: a process died on its way out (the lines above say how)
            print(
                f"ganflow: a process of the distributed training exited with code {done.returncode} "
                "after the training had finished; its result is complete",
                file=sys.stderr,
                flush=True,
            )
        return json.loads(result.read_text())


def _target(family: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    module, fn = TARGETS[family].split(":")
    return getattr(importlib.import_module(module), fn)


def main(argv: list[str] | None = None) -> int:
    """A rank: join the group (nccl on CUDA, else gloo), train, rank 0 writes the result."""
    from ganflow.tasks.io import write_json
    from ganflow.tasks.progress import set_quiet

    faulthandler.enable()  # a rank killed by a signal prints where it was
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    try:
        if not is_main():
            set_quiet(True)
        result = _target(spec["family"])(spec["payload"])
        if is_main():  # rank 0 writes every output: with this file, the training is whole
            write_json(spec["result"], result)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # the work is saved and the group destroyed: leave without the interpreter's teardown,
    # where collective-library threads still alive can abort the process (SIGABRT)
    os._exit(code)
