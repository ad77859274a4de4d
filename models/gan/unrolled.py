"""Unrolled GAN (Metz et al. 2016): the discriminator's next k updates written out
differentiably, so that G's loss can look k steps ahead."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def unrolled_parameters(
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    d_loss: Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor],
    k: int,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Metz et al. 2016, eq. 6-7: theta_D^0 = theta_D, theta_D^{i+1} = theta_D^i + eta *
    step(dL/dtheta_D^i), k times, keeping the graph of every update (create_graph) so that G's
    loss f(theta_G, theta_D^k) back-propagates through them. The step is D's own optimiser
    rule (Adam with its current moments, or SGD), written out differentiably. D's parameters,
    buffers and optimiser state are read, never written: returns (parameters, buffers) to use
    with torch.func.functional_call."""
    group = opt_d.param_groups[0]
    adam = isinstance(opt_d, torch.optim.Adam)
    names, params = zip(*D.named_parameters(), strict=True)
    buffers = {n: b.detach().clone() for n, b in D.named_buffers()}

    def flat(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
        return torch.cat([t.detach().reshape(-1) for t in tensors])

    def unflatten(vec: torch.Tensor) -> dict[str, torch.Tensor]:
        chunks = vec.split([p.numel() for p in params])
        return {n: c.view_as(p) for n, c, p in zip(names, chunks, params, strict=True)}

    # all parameters as one vector, so that each unrolled update is a handful of tensor ops
    # rather than a handful per parameter
    theta = flat(params).requires_grad_(True)

    def state(key: str) -> torch.Tensor:
        """Adam's per-parameter state `key` as one vector (0 before D's first step)."""
        return flat(
            [
                torch.as_tensor(
                    opt_d.state.get(p, {}).get(key, 0.0), dtype=p.dtype, device=p.device
                ).expand(p.shape)
                for p in params
            ]
        )

    m, v, t = (state(key) for key in ("exp_avg", "exp_avg_sq", "step")) if adam else (None,) * 3
    for _ in range(k):
        loss = d_loss(unflatten(theta), buffers)
        # a parameter the loss does not reach (a head it does not use) gets a zero gradient
        (grad,) = torch.autograd.grad(loss, [theta], create_graph=True, allow_unused=True)
        g = torch.zeros_like(theta) if grad is None else grad
        if adam:
            b1, b2 = group["betas"]
            m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            # the 1e-16 keeps d sqrt(v)/dv finite where v = 0 (an unused unit)
            theta = theta - group["lr"] * m_hat / ((v_hat + 1e-16).sqrt() + group["eps"])
        else:
            theta = theta - group["lr"] * g
    return unflatten(theta), buffers
