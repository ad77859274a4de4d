import pytest
import torch
from torch import nn

from ganflow.models.engine import IndexStream, NonFiniteLossError, Phase, adam, fit, run_phases


def _two_players():
    torch.manual_seed(0)
    a, b = nn.Linear(2, 2), nn.Linear(2, 1)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    return a, b, opt_a


def test_a_phase_leaves_the_modules_it_does_not_name_untouched():
    """Phase a's loss (non-zero) runs through b, and its optimiser (lr > 0) holds b's
    parameters too: a phase freezes what it does not name, so no gradient reaches b and its
    weights stay exactly as they were, while a moves; afterwards all are trainable again."""
    a, b, _ = _two_players()
    opt_both = torch.optim.SGD([*a.parameters(), *b.parameters()], lr=0.1)
    b_before = [p.detach().clone() for p in b.parameters()]
    a_before = [p.detach().clone() for p in a.parameters()]

    def loss(batch, step):
        return b(a(batch["x"])).pow(2).mean() + 1.0, {}

    b_phase = Phase("b", [b], torch.optim.SGD(b.parameters(), lr=0.1), loss, every=1000)  # not due
    run_phases([Phase("a", [a], opt_both, loss), b_phase], {"x": torch.ones(4, 2)}, 1)
    assert all(q.grad is None for q in b.parameters())
    assert all(torch.equal(x, y) for x, y in zip(b_before, b.parameters(), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a_before, a.parameters(), strict=True))
    assert all(q.requires_grad for q in [*a.parameters(), *b.parameters()])


def test_a_phase_does_not_add_to_the_gradient_another_phase_left():
    """b keeps the gradient of its own phase (as a player whose optimiser steps later
    would): phase a, whose loss runs through b, must not add to it."""
    a, b, opt_a = _two_players()
    b(torch.ones(1, 2)).sum().backward()
    b_grads = [q.grad.clone() for q in b.parameters()]

    def loss(batch, step):
        return b(a(batch["x"])).sum() + 1.0, {}

    b_phase = Phase("b", [b], torch.optim.SGD(b.parameters(), lr=0.1), loss, every=1000)  # not due
    run_phases([Phase("a", [a], opt_a, loss), b_phase], {"x": torch.ones(4, 2)}, 1)
    assert all(torch.equal(g, q.grad) for g, q in zip(b_grads, b.parameters(), strict=True))


def test_non_finite_loss_raises_before_the_step():
    a, _, opt_a = _two_players()
    before = [p.clone() for p in a.parameters()]
    phase = Phase(
        "d",
        [a],
        opt_a,
        lambda batch, step: (a(batch["x"]).sum() * float("nan"), {"sup": torch.tensor(1.0)}),
    )
    with pytest.raises(NonFiniteLossError, match=r"phase 'd' at step 3"):
        run_phases([phase], {"x": torch.ones(1, 2)}, 3)
    assert all(torch.equal(x, y) for x, y in zip(before, a.parameters(), strict=True))


def test_the_logs_come_back_as_the_floats_each_term_holds(monkeypatch):
    """The loss and its terms reach the host in one transfer (one torch.stack per phase), and
    each logged value is exactly the float its term held, whatever its dtype (bfloat16,
    float64, an integer count) or a plain number."""
    a, _, opt_a = _two_players()
    terms = {
        "half": torch.tensor(1 / 3, dtype=torch.bfloat16),
        "wide": torch.tensor(1e-300, dtype=torch.float64),
        "count": torch.tensor(7),
        "plain": 0.25,
        "third": torch.tensor(1 / 3),
    }

    def loss(batch, step):
        return a(batch["x"]).sum() * 0 + 2.5, terms

    stacks = []
    real_stack = torch.stack
    monkeypatch.setattr(torch, "stack", lambda *a, **k: stacks.append(1) or real_stack(*a, **k))
    logs = run_phases([Phase("d", [a], opt_a, loss)], {"x": torch.ones(1, 2)}, 0)
    assert len(stacks) == 1
    expected = {f"d/{k}": float(v) for k, v in terms.items()}
    assert logs == {"d/loss": 2.5, **expected}


def test_every_runs_a_phase_on_its_steps_only():
    a, _, opt_a = _two_players()
    seen = []
    phase = Phase(
        "slow",
        [a],
        opt_a,
        lambda batch, step: (seen.append(step) or a(batch["x"]).sum(), {}),
        every=3,
    )
    fit([phase], lambda step: {"x": torch.ones(1, 2)}, total_steps=7)
    assert seen == [0, 3, 6]


def test_fit_stops_when_a_callback_asks_and_reports_end():
    a, _, opt_a = _two_players()
    ends = []

    class StopAt:
        def on_step(self, step, logs):
            return step == 4

        def on_end(self, step, ok):
            ends.append((step, ok))

    phase = Phase("a", [a], opt_a, lambda batch, step: (a(batch["x"]).sum(), {}))
    result = fit([phase], lambda step: {"x": torch.ones(1, 2)}, 10, callbacks=[StopAt()])
    assert result.steps_done == 4 and result.stopped_early
    assert ends == [(4, True)]


def test_index_stream_epochs_are_permutations_and_deterministic():
    s = IndexStream(10, 5, seed=3)
    epoch0 = torch.cat([s(0), s(1)])
    assert sorted(epoch0.tolist()) == list(range(10))
    assert torch.equal(IndexStream(10, 5, seed=3)(7), s(7))
    assert not torch.equal(IndexStream(10, 5, seed=4)(0), s(0))


def test_index_stream_batch_larger_than_set():
    s = IndexStream(3, 7, seed=0)
    b = s(0)
    assert len(b) == 7 and set(b.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="empty"):
        IndexStream(0, 4, 0)


def test_adam_is_fused_on_cpu_and_steps_like_plain_adam():
    torch.manual_seed(0)
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opt_a = adam(a.parameters(), 1e-2, (0.5, 0.9))
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.5, 0.9), fused=False)
    assert opt_a.defaults["fused"] and not opt_b.defaults["fused"]
    x = torch.randn(8, 5)
    w0 = a.weight.detach().clone()
    for _ in range(3):
        for m, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    assert not torch.allclose(a.weight, w0, atol=1e-4)  # the steps were taken


def test_adam_falls_back_to_unfused_for_non_float_parameters():
    p = nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    assert not adam([p], 1e-3).defaults["fused"]
