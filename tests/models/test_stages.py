import pytest

from ganflow.models import stages


@pytest.mark.parametrize(
    "side,first,n",
    [(8, 4, 1), (28, 7, 2), (32, 4, 3), (48, 6, 3), (64, 4, 4), (100, 25, 2), (256, 4, 6)],
)
def test_the_first_map_is_the_side_halved_while_at_least_4(side, first, n):
    p = stages.plan(side, 8, 64)
    assert p.first == first and p.stages == n
    assert p.first * 2**p.stages == side
    assert p.maps[-1] == first and p.maps[0] == side // 2


def test_widths_double_from_the_base_to_the_cap():
    assert stages.plan(128, 16, 64).widths == (16, 32, 64, 64, 64)
    # deepest: a plan of few stages starts wider, so its smallest map still has 4 * base
    assert stages.plan(28, 16, 128, deepest=64).widths == (32, 64)
    assert stages.plan(32, 16, 128, deepest=64).widths == (16, 32, 64)


def test_up_and_down_pair_the_widths():
    p = stages.plan(64, 8, 64)
    assert p.down() == [(0, 8), (8, 16), (16, 32), (32, 64)]
    assert p.up() == [(64, 32), (32, 16), (16, 8)]


@pytest.mark.parametrize("side", [4, 30, 257, 260, 0])
def test_sides_off_the_plan_are_refused_with_the_sides_taken(side):
    with pytest.raises(stages.SideError, match="dcgan takes images of side 28, or a multiple of 4"):
        stages.plan(side, 8, 64, "dcgan")
