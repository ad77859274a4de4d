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


class EMA:
    """Exponential moving average of a module's parameters and floating buffers,
    ema <- decay * ema + (1 - decay) * theta. Kept as plain tensors (no deep copy of the
    module) so parametrised layers such as weight norm need no special handling."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for k, v in module.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v.detach(), 1.0 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, module: nn.Module) -> None:
        module.load_state_dict(self.shadow)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)
