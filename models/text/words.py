"""A trainable text encoder for captions: a word vocabulary built from the data set's own
captions and a bidirectional GRU over the words (in the spirit of StackGAN's char-CNN-RNN,
which needs pretrained weights from dead links). Padding never changes an embedding: the
GRU runs on packed sequences, so each caption is read to its own length."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def words(text: str) -> list[str]:
    """Lower-cased words of a caption ('T-shirt, top!' -> ['t-shirt', 'top'])."""
    return _WORD.findall(text.lower())


class Vocabulary:
    """Words seen at least `min_count` times, in order of frequency (ties alphabetical);
    index 0 is padding, 1 every word not in the vocabulary."""

    def __init__(self, captions: Iterable[str], min_count: int = 1) -> None:
        counts = Counter(w for c in captions for w in words(c))
        kept = sorted(
            (w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)
        )
        self.itos = [PAD, UNK, *kept]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, captions: list[str], max_len: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (N, L) int64, zero-padded; lengths (N,)), each caption cut to max_len words
        (an empty caption is one unknown word)."""
        seqs = [[self.stoi.get(w, 1) for w in words(c)][:max_len] or [1] for c in captions]
        lengths = torch.tensor([len(s) for s in seqs])
        ids = torch.zeros(len(seqs), int(lengths.max()) if seqs else 1, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        return ids, lengths

    def state_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_state(cls, state: dict) -> Vocabulary:
        v = cls([])
        v.itos, v.stoi = list(state["itos"]), {w: i for i, w in enumerate(state["itos"])}
        return v


class WordGRUEncoder(nn.Module):
    """(ids (N, L), lengths (N,)) -> phi (N, embed_dim): word embeddings -> bidirectional
    GRU -> the two directions' last states, joined -> linear."""

    def __init__(
        self, vocab_size: int, embed_dim: int, word_dim: int = 64, hidden: int = 128
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, embed_dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            self.embed(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, h = self.gru(packed)  # (2, N, hidden): the forward and backward final states
        return self.out(torch.cat([h[0], h[1]], 1))
