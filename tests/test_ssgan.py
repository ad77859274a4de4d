import dataclasses

import pytest
import torch
from torch import nn

from models import ssgan
from models.layers import GaussianNoise, MinibatchDiscrimination, VBNSequential
from models.ssgan_nets import ARCH_IMAGE_SIZE

CHANNELS = {"mlp28": 1, "mlp8": 1, "conv28": 1, "conv32": 3, "conv8": 1}


@pytest.mark.parametrize("arch", sorted(ARCH_IMAGE_SIZE))
def test_shapes_of_every_architecture(arch):
    size, c = ARCH_IMAGE_SIZE[arch], CHANNELS[arch]
    cfg = ssgan.resolve(
        ssgan.SSGANConfig(arch=arch, minibatch_discrimination=True, vbn_reference_size=8), size
    )
    m = ssgan.build_models(cfg, c, num_classes=7, seed=0)
    z = torch.rand(5, cfg.z_dim)
    x = m["G"](z)
    assert x.shape == (5, c, size, size)
    assert x.min().item() >= 0.0 and x.max().item() <= 1.0
    logits, feats = m["D"](x)
    assert logits.shape == (5, 7) and feats.ndim == 2 and feats.shape[0] == 5


def _has(module: nn.Module, kind: type) -> bool:
    return any(isinstance(m, kind) for m in module.modules())


def test_every_trick_switches_from_the_config():
    on = ssgan.resolve(
        ssgan.SSGANConfig(minibatch_discrimination=True, virtual_batch_norm=True, weight_norm=True),
        8,
    )
    off = dataclasses.replace(
        on,
        minibatch_discrimination=False,
        virtual_batch_norm=False,
        weight_norm=False,
        input_noise=0.0,
        hidden_noise=0.0,
    )
    m_on, m_off = ssgan.build_models(on, 1, 10, 0), ssgan.build_models(off, 1, 10, 0)
    assert _has(m_on["D"], MinibatchDiscrimination) and not _has(
        m_off["D"], MinibatchDiscrimination
    )
    assert isinstance(m_on["G"], VBNSequential) and _has(
        m_off["G"], nn.modules.batchnorm._BatchNorm
    )
    assert _has(m_on["D"], GaussianNoise) and not _has(m_off["D"], GaussianNoise)
    wn = lambda m: any("parametrizations" in n for n, _ in m.named_parameters())  # noqa: E731
    assert wn(m_on["D"]) and not wn(m_off["D"])


def test_resolve_fills_arch_defaults_and_rejects_mismatches():
    cfg = ssgan.resolve(ssgan.SSGANConfig(), 28)
    assert cfg.arch == "mlp28" and cfg.input_noise == ssgan.ARCH_DEFAULTS["mlp28"]["input_noise"]
    assert ssgan.resolve(ssgan.SSGANConfig(), 8).arch == "mlp8"
    assert ssgan.resolve(ssgan.SSGANConfig(input_noise=0.0), 28).input_noise == 0.0
    with pytest.raises(ValueError, match="takes 28x28"):
        ssgan.resolve(ssgan.SSGANConfig(arch="mlp28"), 32)
    with pytest.raises(ValueError, match="no default architecture for 64x64"):
        ssgan.resolve(ssgan.SSGANConfig(), 64)
    with pytest.raises(ValueError, match="unknown SSGAN config fields"):
        ssgan.SSGANConfig.from_dict({"learning_rate": 1})


def _tiny_training(**over):
    torch.manual_seed(0)
    cfg = ssgan.resolve(
        ssgan.SSGANConfig(batch_size=8, labelled_batch_size=6, vbn_reference_size=4, **over), 8
    )
    models = ssgan.build_models(cfg, 1, 3, seed=0)
    data = {
        "x_lab": torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8),
        "y_lab": torch.tensor([0, 1, 2, 0, 1, 2]),
        "x_unl": torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8),
    }
    return models, cfg, data


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"feature_matching": False, "minibatch_discrimination": True},
        {"historical_averaging": 0.01, "label_smoothing": 0.1},
    ],
)
def test_each_gan_phase_changes_only_its_own_player(over):
    models, cfg, data = _tiny_training(**over)
    training = ssgan.build_training(models, cfg, data, total_steps=10, seed=0)
    d_phase, g_phase = training.phases
    batch = training.next_batch(0)
    for phase, changed, fixed in ((d_phase, "D", "G"), (g_phase, "G", "D")):
        before = {k: {n: p.clone() for n, p in m.state_dict().items()} for k, m in models.items()}
        from models.engine import run_phases

        run_phases([phase], batch, 0)
        after = {k: m.state_dict() for k, m in models.items()}
        assert any(not torch.equal(before[changed][n], after[changed][n]) for n in after[changed])
        assert all(
            torch.equal(before[fixed][n], after[fixed][n])
            for n in after[fixed]
            if "running" not in n and "num_batches" not in n
        )


def test_baseline_trains_the_classifier_on_labelled_data_only():
    models, cfg, data = _tiny_training(historical_averaging=0.5)
    training = ssgan.build_baseline_training(models, cfg, data, total_steps=5, seed=0)
    assert [p.name for p in training.phases] == ["sup"]
    assert "hist_d" not in training.stateful  # historical averaging is a GAN trick
    assert set(training.next_batch(0)) == {"x_lab", "y_lab"}
