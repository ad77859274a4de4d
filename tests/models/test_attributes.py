"""The attribute classifier's item crop: a square box around the bright pixels, the whole
image when there are none, and the same reading in train and eval mode."""

import torch

from ganflow.models.attributes import CROP, AttributeNet, item_boxes, item_crops


def test_item_box_is_a_square_around_the_item():
    x = -torch.ones(2, 3, 64, 64)
    x[0, 1, 10:20, 30:50] = 0.8  # a 10 x 20 green item
    box = item_boxes(x)
    x1, y1, x2, y2 = box[0].tolist()
    assert x1 <= 30 and x2 >= 50 and y1 <= 10 and y2 >= 20
    assert abs((x2 - x1) - (y2 - y1)) < 1e-4 and (x2 - x1) < 30
    assert box[1].tolist() == [0.0, 0.0, 64.0, 64.0]  # nothing bright: the whole canvas
    crops = item_crops(x)
    assert crops.shape == (2, 1, CROP, CROP) and crops.max() <= 1 and crops[0].max() > 0.99


def test_reads_the_same_in_train_and_eval_mode():
    net = AttributeNet(32, {"class": 2, "colour": 3})
    opt = torch.optim.SGD(net.parameters(), 0.1)
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    _, logits = net(x)
    sum(v.sum() for v in logits.values()).backward()
    opt.step()
    f_train, l_train = net.train()(x)
    f_eval, l_eval = net.eval()(x)
    assert f_train.shape == (8, 256 + 128)
    assert all(torch.allclose(l_train[a], l_eval[a]) for a in l_train)
