"""Real-image streams: weighted draws for data whose images count unequally."""

import pytest
import torch

from ganflow.tasks.data.streams import GANData


def _data(weights):
    x = torch.arange(3, dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 1, 2, 2).contiguous()
    return GANData("t", (1, 2, 2), 3, {"id": "t"}, ["a", "b"], x, torch.tensor([0, 1, 1]),
                   weights)  # fmt: skip


def _index(batch):  # images hold their own index as the pixel value
    return torch.round((batch[:, 0, 0, 0] + 1.0) * 127.5).long()


def test_weighted_batches_follow_the_weights_and_are_step_pure():
    d = _data(torch.tensor([0.0, 1.0, 3.0]))
    draw = d.real(400, seed=5, device=torch.device("cpu"), flat=False, labelled=True)
    b, y = draw(7)
    i = _index(b)
    assert not (i == 0).any()  # weight 0: never drawn
    assert 2.2 < (i == 2).sum() / (i == 1).sum() < 4.0  # about 3 times as often
    assert torch.equal(y, torch.tensor([0, 1, 1])[i])  # labels follow their images
    again = d.real(400, seed=5, device=torch.device("cpu"), flat=False, labelled=True)
    assert torch.equal(again(7)[0], b) and not torch.equal(again(8)[0], b)


def test_unweighted_batches_are_epochs():
    draw = _data(None).real(3, seed=0, device=torch.device("cpu"), flat=False)
    assert sorted(_index(draw(0)).tolist()) == [0, 1, 2]


@pytest.mark.parametrize("w", [[0.0, 0.0, 0.0], [1.0, -1.0, 1.0], [1.0, float("nan"), 1.0]])
def test_bad_weights_are_refused(w):
    with pytest.raises(ValueError, match="sample weights"):
        _data(torch.tensor(w)).real(4, seed=0, device=torch.device("cpu"), flat=False)
