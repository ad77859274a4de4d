"""A multi-attribute image classifier for captioned canvases (the built-in set's items on a
black canvas): colour, size and position are read from the whole canvas, the class from
the item itself, cropped out around its bright pixels and brought to 28x28 grey (so that a
small item is read at the detail of a large one). Trained on real images, it reads
generated images back (caption consistency); both parts' penultimate layers give the
domain features of FID/KID, its class head the IS probabilities.

GroupNorm, not batch norm: on mostly black canvases some channels barely vary, and eval-mode
batch statistics then misread images that train mode reads right.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align

CROP = 28


def item_boxes(x: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """(N, 3, S, S) in [-1, 1] -> (N, 4) square boxes (x1, y1, x2, y2) around the pixels
    brighter than `threshold` of the image's brightest (the brightness: the largest channel);
    the whole image where nothing is bright."""
    v = (x.amax(1) + 1) / 2  # (N, S, S) in [0, 1]
    s = x.shape[-1]
    mask = v > threshold * v.flatten(1).amax(1).clamp(min=1e-6)[:, None, None]
    rows, cols = mask.any(2), mask.any(1)  # (N, S) each
    idx = torch.arange(s, device=x.device, dtype=x.dtype)

    def extent(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.where(m, idx, torch.full_like(idx, s)).amin(1)
        hi = torch.where(m, idx, torch.full_like(idx, -1)).amax(1) + 1
        return lo, hi

    (y1, y2), (x1, x2) = extent(rows), extent(cols)
    empty = ~rows.any(1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # a margin of 1/12 on each side, as Fashion-MNIST frames its items (20-24 of 28 pixels)
    half = torch.maximum(x2 - x1, y2 - y1) * (0.5 + 1 / 12)
    boxes = torch.stack([cx - half, cy - half, cx + half, cy + half], 1)
    whole = torch.tensor([0.0, 0.0, s, s], device=x.device, dtype=x.dtype)
    return torch.where(empty[:, None], whole, boxes)


def item_crops(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) in [-1, 1] -> (N, 1, 28, 28) grey crops of the items, each scaled to its
    own brightest pixel, in [-1, 1]."""
    v = (x.amax(1, keepdim=True) + 1) / 2  # (N, 1, S, S)
    boxes = item_boxes(x)
    rois = torch.cat([torch.arange(len(x), device=x.device, dtype=x.dtype)[:, None], boxes], 1)
    crops = roi_align(v, rois, output_size=CROP, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    crops = crops / crops.flatten(1).amax(1).clamp(min=1e-6)[:, None, None, None]
    return crops * 2 - 1


def _block(cin: int, cout: int, stride: int) -> list[nn.Module]:
    k, p = (4, 1) if stride == 2 else (3, 1)
    return [nn.Conv2d(cin, cout, k, stride, p), nn.GroupNorm(4, cout), nn.ReLU(True)]


class AttributeNet(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> (features (N, F), {attribute: logits (N, K_a)}), for a side
    S that is a power of 2 from 16. Canvas trunk: 4x4 stride-2 convs down to 4x4, from the
    side 16 on each followed by a 3x3 conv. Item trunk (the class head): on the 28x28 crop,
    3x3 and 4x4 stride-2 convs to 7x7."""

    def __init__(self, size: int, heads: dict[str, int], ch: int = 16, features: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        while size > 4:
            size //= 2
            layers += _block(cin, ch, 2) + (_block(ch, ch, 1) if size <= 16 else [])
            cin, ch = ch, min(2 * ch, 128)
        self.trunk = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(cin * 16, features), nn.ReLU(True)
        )
        self.item = None
        if "class" in heads:
            self.item = nn.Sequential(*_block(1, 32, 1), *_block(32, 32, 2), *_block(32, 64, 1),
                                      *_block(64, 64, 2), nn.Flatten(), nn.Linear(64 * 49, 128),
                                      nn.ReLU(True))  # fmt: skip
        self.heads = nn.ModuleDict(
            {a: nn.Linear(128 if a == "class" and self.item is not None else features, k)
             for a, k in heads.items()}
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        f = self.trunk(x)
        g = self.item(item_crops(x)) if self.item is not None else None
        logits = {
            a: head(g if a == "class" and g is not None else f) for a, head in self.heads.items()
        }
        return (torch.cat([f, g], 1) if g is not None else f), logits
