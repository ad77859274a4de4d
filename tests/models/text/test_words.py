"""The trainable caption encoder: vocabulary, unknown words, and padding that never changes
an embedding."""

import torch

from ganflow.models.text.words import UNK, Vocabulary, WordGRUEncoder, words


def test_words_and_vocabulary():
    assert words("A small T-shirt, top-left!") == ["a", "small", "t-shirt", "top-left"]
    v = Vocabulary(["a red bag", "a blue bag", "a bag"], min_count=2)
    assert v.itos[:4] == ["<pad>", UNK, "a", "bag"] and "red" not in v.stoi
    ids, lengths = v.encode(["a red bag", "bag"])
    assert ids.tolist() == [[2, 1, 3], [3, 0, 0]] and lengths.tolist() == [3, 1]
    assert v.encode([""])[0].tolist() == [[1]]  # an empty caption: one unknown word
    again = Vocabulary.from_state(v.state_dict())
    assert again.itos == v.itos and torch.equal(again.encode(["a bag"])[0], v.encode(["a bag"])[0])


def test_padding_does_not_change_the_embedding():
    torch.manual_seed(0)
    v = Vocabulary(["a small red sandal in the centre", "a bag"])
    enc = WordGRUEncoder(len(v), 16).eval()
    ids, lengths = v.encode(["a bag", "a small red sandal in the centre"])
    together = enc(ids, lengths)
    alone = enc(*v.encode(["a bag"]))
    torch.testing.assert_close(together[0], alone[0])
    assert together.shape == (2, 16) and not torch.allclose(together[0], together[1])
