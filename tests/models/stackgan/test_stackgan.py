"""StackGAN: both stages' shapes, the matching-aware discriminator's labels, and Stage-II
training leaving Stage-I exactly as it was."""

import pytest
import torch

from ganflow.models.config import ConfigError
from ganflow.models.engine import run_phases
from ganflow.models.stackgan.config import StackGANConfig
from ganflow.models.stackgan.nets import build_models
from ganflow.models.stackgan.objective import StackGANObjective, build_training, matching_pairs

CFG = StackGANConfig(stage1_size=16, stage2_size=32, embed_dim=12, cond_dim=4, z_dim=6,
                     d_text_dim=4, ngf=4, ndf=4, res_blocks=1, batch_size=4)  # fmt: skip


def _batch(n=4):
    g = torch.Generator().manual_seed(0)
    return {"phi": torch.randn(n, 12, generator=g), "z": torch.randn(n, 6, generator=g),
            "x1": torch.rand(n, 3, 16, 16, generator=g) * 2 - 1,
            "x2": torch.rand(n, 3, 32, 32, generator=g) * 2 - 1}  # fmt: skip


def test_sizes_are_checked():
    with pytest.raises(ConfigError, match="2x or 4x"):
        StackGANConfig(stage1_size=32, stage2_size=96).validate()
    with pytest.raises(ConfigError, match="power of 2"):
        StackGANConfig(stage1_size=24, stage2_size=48).validate()


def test_matching_aware_labels():
    real, fake, phi = torch.zeros(3, 1), torch.ones(3, 1), torch.arange(3.0)[:, None]
    (r_img, r_txt, r_lab), (w_img, w_txt, w_lab), (f_img, f_txt, f_lab) = matching_pairs(
        real, fake, phi
    )
    assert (r_lab, w_lab, f_lab) == (1.0, 0.0, 0.0)
    assert r_img is real and w_img is real and f_img is fake
    assert torch.equal(r_txt, phi) and torch.equal(f_txt, phi)
    assert not torch.equal(w_txt, phi) and sorted(w_txt.flatten().tolist()) == [0.0, 1.0, 2.0]
    assert (w_txt != phi).all()  # every real image meets another's text


def test_d_loss_is_real_plus_half_wrong_and_fake():
    models = build_models(CFG, 0)
    obj = StackGANObjective(models, CFG, 1)
    obj.D = lambda x, t: torch.zeros(len(x))  # logit 0 everywhere: BCE = log 2 each
    loss, _ = obj.d(_batch(), 0)
    assert loss.item() == pytest.approx(2 * 0.693147, abs=1e-5)


def test_stage2_training_leaves_stage1_unchanged():
    models = build_models(CFG, 0)
    batch = _batch()
    stage1 = build_training(models, CFG, lambda s: batch, 4, stage=1)
    run_phases(stage1.phases, batch, 0)  # Stage I trained a little first
    before = {k: v.clone() for k, v in models["G1"].state_dict().items()}
    g2_before = {k: v.clone() for k, v in models["G2"].state_dict().items()}
    stage2 = build_training(models, CFG, lambda s: batch, 4, stage=2)
    for step in range(3):
        run_phases(stage2.phases, batch, step)
    after = models["G1"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics
    assert any(not torch.equal(g2_before[k], v) for k, v in models["G2"].state_dict().items())
    x2, _, _ = StackGANObjective(models, CFG, 2)._fake(batch)
    assert x2.shape == (4, 3, 32, 32)


def test_residual_stage2_starts_as_stage1_upsampled_and_learns_a_correction():
    cfg = CFG.with_overrides({"stage2_residual": True})
    models = build_models(cfg, 0)
    G1, G2 = models["G1"].eval(), models["G2"]
    batch = _batch()
    with torch.no_grad():
        low, _, _ = G1(batch["phi"], batch["z"])
        out, _, _ = G2(low, batch["phi"])
    up = torch.nn.functional.interpolate(low, size=32, mode="bilinear").clamp(-0.99, 0.99)
    assert torch.allclose(out, up, atol=1e-5)
    training = build_training(models, cfg, lambda s: batch, 4, stage=2)
    for step in range(2):
        run_phases(training.phases, batch, step)
    with torch.no_grad():
        out, _, _ = G2(low, batch["phi"])
    assert not torch.allclose(out, up, atol=1e-4)  # the correction is trained, not stuck at 0


def test_matching_term_is_the_contrastive_loss_of_texts_and_matched_images():
    from ganflow.models.text.matching import contrastive_loss

    cfg = CFG.with_overrides({"match_weight": 2.0})
    models = build_models(cfg, 0)
    seen = []

    def matcher(x):
        seen.append(x)
        return x.flatten(1)[:, :12]

    obj = StackGANObjective(models, cfg, 1, matcher, match_temperature=0.5)
    torch.manual_seed(1)
    loss, terms = obj.g(_batch(), 0)
    torch.manual_seed(1)
    plain, plain_terms = StackGANObjective(models, CFG, 1).g(_batch(), 0)
    fake = seen[0]
    assert fake.shape == (4, 3, 16, 16) and fake.requires_grad  # G's images, with gradients
    expected = contrastive_loss(_batch()["phi"], fake.flatten(1)[:, :12], temperature=0.5)
    assert terms["match"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.item() == pytest.approx(plain.item() + 2.0 * expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="image encoder"):
        StackGANObjective(models, cfg, 1)


def test_hard_negatives_are_each_texts_nearest_other_text():
    from ganflow.models.stackgan.objective import mismatched

    phi = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 2.0]])
    assert torch.equal(mismatched(phi, hardest=True), phi[[1, 0, 3, 2]])
    assert torch.equal(mismatched(phi), phi.roll(1, 0))  # the paper's: the next image's
    real, fake = torch.zeros(4, 1), torch.ones(4, 1)
    _, (_, wrong, _), _ = matching_pairs(real, fake, phi, hardest=True)
    assert torch.equal(wrong, phi[[1, 0, 3, 2]])


def test_projection_discriminator_adds_the_text_projected_on_the_image_features():
    cfg = CFG.with_overrides({"d_projection": True})
    D, plain = build_models(cfg, 0)["D1"].eval(), build_models(CFG, 0)["D1"].eval()
    b = _batch()
    with torch.no_grad():
        assert torch.equal(D(b["x1"], b["phi"]), plain(b["x1"], b["phi"]))  # W = 0 at start
        D.project.weight.fill_(1.0)  # W t = (sum of t) in every component
        h = D.image(b["x1"]).flatten(1)
        assert h.shape == (4, 128)  # 2 ndf channels at 4x4
        t = D.text(b["phi"] * D.scale)
        expected = plain(b["x1"], b["phi"]) + t.sum(1) * h.sum(1) / 128**0.5
        assert torch.allclose(D(b["x1"], b["phi"]), expected, atol=1e-5)


def test_projection_is_trained_with_d():
    cfg = CFG.with_overrides({"d_projection": True})
    models = build_models(cfg, 0)
    batch = _batch()
    training = build_training(models, cfg, lambda s: batch, 4, stage=1)
    for step in range(2):
        run_phases(training.phases, batch, step)
    assert models["D1"].project.weight.abs().sum() > 0


def test_stage2_anchor_is_the_l1_of_the_area_averaged_image_to_stage1():
    import math

    cfg = CFG.with_overrides({"stage2_anchor": 0.5})
    obj = StackGANObjective(build_models(cfg, 0), cfg, 2)
    checker = (torch.arange(32)[:, None] + torch.arange(32)[None]) % 2  # 0/1, 2x2 mean 0.5
    zeros = torch.zeros(4, 4)
    obj.G = lambda low, phi: (checker.float().expand(4, 3, 32, 32), zeros, zeros)
    obj.D = lambda x, t: torch.zeros(len(x))  # BCE(0, 1) = log 2
    obj._low = lambda batch: torch.full((4, 3, 16, 16), 0.25)
    loss, terms = obj.g(_batch(), 0)
    assert terms["anchor"].item() == pytest.approx(0.25)  # |0.5 - 0.25|
    assert loss.item() == pytest.approx(math.log(2) + 0.5 * 0.25, rel=1e-6)  # KL is 0
    _, stage1_terms = StackGANObjective(build_models(cfg, 0), cfg, 1).g(_batch(), 0)
    assert "anchor" not in stage1_terms  # Stage-I has nothing to anchor to


def test_g_ema_averages_the_trained_generator_after_each_g_step():
    cfg = CFG.with_overrides({"g_ema": 0.75})
    models = build_models(cfg, 0)
    batch = _batch()
    stage2 = build_training(models, cfg, lambda s: batch, 4, stage=2)
    assert "ema_g2" in stage2.stateful and "ema_g1" not in stage2.stateful
    d_phase, g_phase = stage2.phases
    start = {k: v.clone() for k, v in models["G2"].state_dict().items()}
    run_phases([d_phase], batch, 0)  # D's step leaves the average alone
    shadow = stage2.stateful["ema_g2"].shadow
    assert all(torch.equal(shadow[k], start[k]) for k in start)
    run_phases([g_phase], batch, 0)
    now = models["G2"].state_dict()
    moved = [k for k in start if now[k].is_floating_point() and not torch.equal(now[k], start[k])]
    assert moved  # G stepped, and its average went a quarter of the way
    for k in moved:
        torch.testing.assert_close(shadow[k], 0.75 * start[k] + 0.25 * now[k])
