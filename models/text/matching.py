"""A joint image-text space for captions: an image encoder trained with a symmetric
contrastive loss (InfoNCE, as CLIP, Radford et al. 2021, and AttnGAN's DAMSM sentence loss,
Xu et al. 2018) against the caption embeddings. It gives the text encoder a training signal
(when it is trainable) and R-precision its retrieval space (AttnGAN, section 4): for each
generated image, is its own caption the most similar of 1 + 99 random others?
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ImageEncoder(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> (N, embed_dim): 4x4 stride-2 convs (BN, leaky ReLU) down to
    4x4, then a linear layer. Any side that is a power of 2 from 16."""

    def __init__(self, size: int, embed_dim: int, ch: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        while size > 4:
            layers += [nn.Conv2d(cin, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch),
                       nn.LeakyReLU(0.2, True)]  # fmt: skip
            cin, ch, size = ch, min(2 * ch, 256), size // 2
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(cin * 16, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.conv(x).flatten(1))


def contrastive_loss(
    text: torch.Tensor, image: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of N matching (text, image) pairs, (N, E) each:
    1/2 [CE(softmax_j cos(t_i, v_j) / tau, i) + CE(softmax_j cos(v_i, t_j) / tau, i)]."""
    t, v = F.normalize(text, dim=1), F.normalize(image, dim=1)
    logits = t @ v.T / temperature  # (N, N): row i, column j = text i against image j
    target = torch.arange(len(t), device=t.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def r_precision(
    image: torch.Tensor,
    text: torch.Tensor,
    pool: torch.Tensor,
    candidates: int = 100,
    seed: int = 0,
    keys: torch.Tensor | None = None,
    pool_keys: torch.Tensor | None = None,
) -> float:
    """Share of images whose own caption (text[i]) is the most cosine-similar of itself and
    `candidates - 1` captions drawn at random from `pool` (M, E): AttnGAN's R-precision, R = 1.
    image, text: (N, E) embeddings of the generated images and their captions. With `keys`
    (N,) and `pool_keys` (M,) (what a caption says, e.g. its attribute combination), a drawn
    caption that says the same as the image's own is no rival: it is left out."""
    g = torch.Generator().manual_seed(seed)
    v = F.normalize(image.double(), dim=1)
    own = (v * F.normalize(text.double(), dim=1)).sum(1)  # (N,)
    idx = torch.randint(0, len(pool), (len(v), candidates - 1), generator=g)
    others = F.normalize(pool.double(), dim=1)[idx]  # (N, candidates - 1, E)
    rivals = torch.einsum("ne,nke->nk", v, others)
    if keys is not None and pool_keys is not None:
        rivals = rivals.masked_fill(pool_keys[idx] == keys[:, None], float("-inf"))
    return float((own[:, None] > rivals).all(1).double().mean())
