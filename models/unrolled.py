"""Unrolled GAN (Metz et al. 2016): the discriminator's next k updates written out
differentiably, so that G's loss can look k steps ahead."""

from __future__ import annotations

from collections.abc import Callable

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
    params = {n: p.detach().clone().requires_grad_(True) for n, p in D.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in D.named_buffers()}
    moments = {}
    for n, p in D.named_parameters():
        st = opt_d.state.get(p, {})
        if adam and "exp_avg" in st:
            moments[n] = (st["exp_avg"].detach(), st["exp_avg_sq"].detach(), float(st["step"]))
        else:
            moments[n] = (torch.zeros_like(p), torch.zeros_like(p), 0.0)
    for _ in range(k):
        loss = d_loss(params, buffers)
        # a parameter the loss does not reach (a head it does not use) gets a zero gradient
        grads = torch.autograd.grad(
            loss, list(params.values()), create_graph=True, allow_unused=True
        )
        grads = [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params.values(), grads, strict=True)
        ]
        new = {}
        for (n, p), g in zip(params.items(), grads, strict=True):
            if adam:
                b1, b2 = group["betas"]
                m, v, t = moments[n]
                m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1
                moments[n] = (m, v, t)
                m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
                # the 1e-16 keeps d sqrt(v)/dv finite where v = 0 (an unused unit)
                new[n] = p - group["lr"] * m_hat / ((v_hat + 1e-16).sqrt() + group["eps"])
            else:
                new[n] = p - group["lr"] * g
        params = new
    return params, buffers
