"""Stateful training tricks: small classes that keep buffers and say how to save them."""

from __future__ import annotations

import torch
from torch import nn


class HistoricalAveraging:
    """Historical averaging (Salimans et al. 2016, section 3.3).

    Adds weight * || theta - (1/t) sum_{i=1..t} theta[i] ||^2 to a player's cost, where
    theta[i] are the player's parameters after step i (theta[1] being the initial ones).
    Call penalty() inside the loss and update() after each optimiser step.
    """

    def __init__(self, module: nn.Module, weight: float) -> None:
        self.module, self.weight = module, float(weight)
        self.count = 1
        self.average = {n: p.detach().clone() for n, p in module.named_parameters()}

    def penalty(self) -> torch.Tensor:
        terms = [(p - self.average[n]).pow(2).sum() for n, p in self.module.named_parameters()]
        return self.weight * torch.stack(terms).sum()

    @torch.no_grad()
    def update(self) -> None:
        self.count += 1
        for n, p in self.module.named_parameters():
            # running mean: avg_t = avg_{t-1} + (theta_t - avg_{t-1}) / t
            self.average[n].add_((p.detach() - self.average[n]) / self.count)

    def state_dict(self) -> dict:
        return {"count": self.count, "average": {n: t.clone() for n, t in self.average.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        for n, t in state["average"].items():
            self.average[n].copy_(t)


@torch.no_grad()
def ema_into(avg: dict[str, torch.Tensor], module: nn.Module, decay: float) -> None:
    """avg <- decay * avg + (1 - decay) * module's state, in place, for floating parameters and
    buffers (batch norm's running statistics included); integer buffers are copied. `avg` is a
    state dict: EMA's shadow, or another module's state_dict() (its tensors share storage)."""
    for k, v in module.state_dict().items():
        if v.dtype.is_floating_point:
            avg[k].lerp_(v.detach(), 1.0 - decay)
        else:
            avg[k].copy_(v)


class EMA:
    """Exponential moving average of a module's parameters and floating buffers,
    ema <- decay * ema + (1 - decay) * theta. Kept as plain tensors (no deep copy of the
    module) so parametrised layers such as weight norm need no special handling.

    warmup: the t-th update uses min(decay, (1 + t) / (10 + t)) (TensorFlow's
    ExponentialMovingAverage with num_updates), so the average soon forgets the initial
    weights: without it, after 1,350 steps at 0.999 a quarter of the average is still the
    random initialisation (0.999^1350 = 0.26)."""

    def __init__(self, module: nn.Module, decay: float, warmup: bool = False) -> None:
        self.decay, self.warmup, self.updates = float(decay), warmup, 0
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def current_decay(self) -> float:
        """The decay the next update uses."""
        if not self.warmup:
            return self.decay
        t = self.updates + 1
        return min(self.decay, (1 + t) / (10 + t))

    def update(self, module: nn.Module) -> None:
        ema_into(self.shadow, module, self.current_decay())
        self.updates += 1

    def copy_to(self, module: nn.Module) -> None:
        module.load_state_dict(self.shadow)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        # a checkpoint from before the count: past any warm-up (its average was never warmed)
        self.updates = int(state.get("updates", 10**9))
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)


class ImagePool:
    """Experience replay of generated samples for D (Shrivastava et al. 2017, section 2.3;
    the image pool of Zhu et al. 2017). Until the pool is full, every fake goes in and is
    returned as is; after that each fake is, with probability p, swapped for a random stored
    one (which it replaces in the pool). D then also sees what G made some steps ago, which
    damps the cycling between modes. The pool and its random stream are checkpointed."""

    def __init__(self, size: int, p: float = 0.5, seed: int = 0) -> None:
        self.size, self.p = int(size), float(p)
        self.buffer: torch.Tensor | None = None  # (size, ...)
        self.count = 0
        self.rng = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def query(self, fake: torch.Tensor) -> torch.Tensor:
        fake = fake.detach()
        if self.size == 0:
            return fake
        if self.buffer is None:
            self.buffer = torch.zeros(
                (self.size, *fake.shape[1:]), dtype=fake.dtype, device=fake.device
            )
        out = fake.clone()
        take = min(self.size - self.count, len(fake))
        if take:  # filling up: store, return unchanged
            self.buffer[self.count : self.count + take] = fake[:take]
            self.count += take
        rest = torch.arange(take, len(fake))
        swap = rest[torch.rand(len(rest), generator=self.rng) < self.p]
        slots = torch.randint(0, self.size, (len(swap),), generator=self.rng)
        for i, j in zip(swap.tolist(), slots.tolist(), strict=True):
            out[i] = self.buffer[j]
            self.buffer[j] = fake[i]
        return out

    def state_dict(self) -> dict:
        buffer = None if self.buffer is None else self.buffer.clone()
        return {"count": self.count, "buffer": buffer, "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.buffer = None if state["buffer"] is None else state["buffer"].clone()
        self.rng.set_state(state["rng"])


def instance_noise_std(step: int, sigma: float, anneal_steps: int) -> float:
    """Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017): N(0, s^2) added to
    both D inputs, with s annealed linearly from sigma to 0 over anneal_steps steps."""
    if sigma <= 0 or anneal_steps <= 0:
        return 0.0
    return sigma * max(0.0, 1.0 - step / anneal_steps)


def orthogonal_penalty(module: nn.Module, skip: tuple[nn.Module, ...] = ()) -> torch.Tensor:
    """BigGAN's orthogonal regularisation (Brock et al. 2019, eq. 3, without beta):
    sum over the weights W of `module` (each viewed as (out, fan_in)) of
    ||W W^T * (1 - I)||_F^2: the filters pushed towards orthogonality, their norms left free.
    Biases, norm layers' 1-D parameters and the parameters of `skip` (BigGAN: the shared class
    embedding) are left out."""
    skipped = {id(p) for m in skip for p in m.parameters()}
    total = torch.zeros(())
    for p in module.parameters():
        if p.dim() < 2 or id(p) in skipped:
            continue
        w = p.reshape(p.shape[0], -1)  # (out, fan_in)
        if w.shape[0] <= w.shape[1]:
            gram = w @ w.T  # (out, out)
            off = (gram - torch.diag_embed(torch.diagonal(gram))).pow(2).sum()
        else:  # a tall W, e.g. a linear layer onto a feature map: ||W W^T||_F^2 equals
            # ||W^T W||_F^2 (the same squared eigenvalues), the small Gram; then the
            # diagonal's share, sum_i ||w_i||^4 over the rows, is taken off
            off = (w.T @ w).pow(2).sum() - w.pow(2).sum(1).pow(2).sum()
        total = total.to(p.device) + off
    return total
