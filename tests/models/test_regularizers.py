import torch
from torch import nn

from ganflow.models.regularizers import EMA, HistoricalAveraging


def _scalar_module(value: float) -> nn.Module:
    m = nn.Module()
    m.p = nn.Parameter(torch.tensor([value]))
    return m


def test_historical_averaging_hand_computed():
    m = _scalar_module(1.0)
    ha = HistoricalAveraging(m, weight=2.0)
    assert ha.penalty().item() == 0.0
    with torch.no_grad():
        m.p.fill_(3.0)
    assert ha.penalty().item() == 8.0  # 2 * (3 - 1)^2
    ha.update()  # average of (1, 3) = 2
    with torch.no_grad():
        m.p.fill_(5.0)
    assert ha.penalty().item() == 18.0  # 2 * (5 - 2)^2
    ha.update()
    assert ha.average["p"].item() == 3.0  # (1 + 3 + 5) / 3


def test_historical_averaging_state_round_trip():
    m = _scalar_module(1.0)
    ha = HistoricalAveraging(m, 1.0)
    with torch.no_grad():
        m.p.fill_(4.0)
    ha.update()
    other = HistoricalAveraging(_scalar_module(0.0), 1.0)
    other.load_state_dict(ha.state_dict())
    assert other.count == 2 and other.average["p"].item() == 2.5


def test_ema_update_and_copy():
    m = _scalar_module(1.0)
    ema = EMA(m, decay=0.5)
    with torch.no_grad():
        m.p.fill_(3.0)
    ema.update(m)
    target = _scalar_module(0.0)
    ema.copy_to(target)
    assert target.p.item() == 2.0


def test_ema_warmup_forgets_the_initial_weights_and_resumes_its_count():
    m = _scalar_module(0.0)
    ema, plain = EMA(m, decay=0.999, warmup=True), EMA(m, decay=0.999)
    with torch.no_grad():
        m.p.fill_(1.0)
    for _ in range(1350):
        ema.update(m)
        plain.update(m)
    # warmed: the initial 0 weighs almost nothing; plain: 0.999^1350 = 0.26 of it remains
    assert (
        ema.shadow["p"].item() > 0.99 and abs(plain.shadow["p"].item() - (1 - 0.999**1350)) < 1e-3
    )
    assert EMA(m, 0.999, warmup=True).current_decay() == 2 / 11  # the first update
    again = EMA(_scalar_module(0.0), 0.999, warmup=True)
    again.load_state_dict(ema.state_dict())
    assert again.updates == 1350 and again.current_decay() == ema.current_decay()
    old = {k: v for k, v in plain.state_dict().items() if k != "updates"}  # before the count
    again.load_state_dict(old)
    assert again.current_decay() == 0.999
