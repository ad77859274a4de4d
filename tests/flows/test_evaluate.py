"""`ganflow evaluate` and the `evaluate` flow on a tiny digits GAN, a sample folder, and bad input."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from readme_keys import assert_documented

from ganflow.flows.cli import main
from ganflow.tasks.report.evaluation import RESULT_KEYS

FAST = [
    "--num-samples",
    "120",
    "--cas-steps",
    "60",
    "--extractor-steps",
    "300",
    "--inception",
    "off",
]


@pytest.fixture(scope="module")
def gan_runs(digits_bundle, tmp_path_factory):
    from ganflow.models.ssgan.config import SSGANConfig
    from ganflow.tasks.train.ssgan import train
    from ganflow.tasks.train.trainer import RunConfig

    out = tmp_path_factory.mktemp("gan-runs")
    run = RunConfig(epochs=1, eval_every=1000)
    return {
        kind: train(digits_bundle["path"], SSGANConfig(), run, out / kind, kind)["checkpoint"]
        for kind in ("gan", "baseline")
    }


def _evaluate_json(capsys, *args) -> dict:
    assert main(["evaluate", *FAST, *args, "--json"]) == 0  # later options win
    out = json.loads(capsys.readouterr().out)
    # scores a run may leave out: CAS and the floor (--no-cas, --no-floor), Inception's
    assert_documented(
        "evaluate",
        out,
        absent={
            "inception",
            "floor",
            "cas_accuracy",
            "real_accuracy",
            "is_mean",
            "is_std",
            "class_consistency",
        },
    )
    return out


@pytest.fixture(scope="module")
def cli_result(gan_runs, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ev") / "run"
    from ganflow.flows.evaluate import run_evaluation
    from ganflow.tasks.evaluate.protocol import EvalParams

    return run_evaluation(
        EvalParams(
            checkpoint=gan_runs["gan"],
            num_samples=120,
            cas_steps=60,
            extractor_steps=300,
            inception="off",
            run_dir=str(run_dir),
        )
    )


def test_checkpoint_evaluation_reports_every_metric_with_its_protocol(cli_result):
    for key in RESULT_KEYS:
        assert isinstance(cli_result[key], float), key
        assert isinstance(cli_result["floor"][key], float), key
    p = cli_result["protocol"]
    assert p["data"] == "digits" and p["fake_count"] == 120 and p["real"]["count"] == 359
    assert p["extractor"]["name"] == "lenet" and p["extractor"]["test_accuracy"] > 0.8
    assert p["kid"]["subset_size"] == 120 and p["image_shape"] == [1, 8, 8]
    assert p["samples"]["labels"].startswith("argmax of the run's own classifier")
    assert p["cas"]["synthetic_count"] == 120 and p["inception"]["used"] is False
    # one epoch of GAN training is far from the data: worse than real vs real
    assert cli_result["fid"] > cli_result["floor"]["fid"]
    assert cli_result["floor"]["precision"] > 0.5 and cli_result["floor"]["recall"] > 0.5


def test_the_floor_and_the_real_baseline_are_reused_from_the_cache(cli_result, tmp_path):
    from ganflow.tasks.evaluate.protocol import EvalParams
    from ganflow.tasks.evaluate.scores import score

    p = EvalParams(**{**cli_result["params"], "run_dir": str(tmp_path)})
    samples = Path(cli_result["run_dir"]) / "samples.pt"
    again = score(p, samples, "floor")
    assert again["protocol"]["cache"]["hit"] is True and again["fid"] == cli_result["floor"]["fid"]
    other = score(dataclasses.replace(p, kid_subsets=7), samples, "floor")
    assert other["protocol"]["cache"]["hit"] is False
    # the samples' real baseline is the floor's CAS: the same images, trained once
    assert cli_result["real_accuracy"] == cli_result["floor"]["cas_accuracy"]


def test_evaluation_writes_metrics_report_and_pictures(cli_result):
    run_dir = Path(cli_result["run_dir"])
    stored = json.loads((run_dir / "metrics.json").read_text())
    assert (
        stored["fid"] == cli_result["fid"] and stored["floor"]["fid"] == cli_result["floor"]["fid"]
    )
    report = (run_dir / "report.md").read_text()
    assert "real vs real (floor)" in report and "CAS accuracy" in report and "## Protocol" in report
    for name in ("samples.png", "real.png"):
        assert (run_dir / name).read_bytes()[:4] == b"\x89PNG"


def test_cli_json_on_a_sample_folder_with_class_folders(capsys, tmp_path):
    from PIL import Image

    from ganflow.tasks.data.sources import SourceOptions, load_digits

    raw = load_digits(SourceOptions())
    for i in range(150):
        d = tmp_path / "samples" / str(int(raw.test_y[i]))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(raw.test_x[i, 0]).save(d / f"{i}.png")
    out = _evaluate_json(
        capsys,
        "--samples",
        str(tmp_path / "samples"),
        "--data",
        "digits",
        "--no-prefect",
        "--no-floor",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert {*RESULT_KEYS, "protocol"} <= set(out) and "floor" not in out
    assert out["protocol"]["samples"]["labels"] == "class folders" and out["cas_accuracy"] > 0.5
    # real test images scored against the test set they come from: close to the data
    assert out["precision"] > 0.8


def test_flat_sample_folder_has_no_cas(capsys, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "flat").mkdir()
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(
            tmp_path / "flat" / f"{i}.png"
        )
    out = _evaluate_json(
        capsys,
        "--samples",
        str(tmp_path / "flat"),
        "--data",
        "digits",
        "--no-prefect",
        "--no-floor",
        "--num-samples",
        "20",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert out["cas_accuracy"] is None and "no labels" in out["protocol"]["cas"]["skipped"]
    assert out["protocol"]["fake_count"] == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint", "/nonexistent/checkpoint.pt"], "does not exist"),
        (["--samples", "/nonexistent/dir", "--data", "digits"], "does not exist"),
        (["--samples", "{tmp}", "--data", "nosuchdata"], "unknown data set"),
        (["--samples", "{tmp}"], "name the reference data set"),
    ],
)
def test_bad_input_is_named(capsys, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["evaluate", *args, *FAST, "--no-prefect", "--run-dir", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


def test_unknown_class_folder_and_baseline_checkpoint_are_refused(capsys, tmp_path, gan_runs):
    (tmp_path / "s" / "not-a-digit").mkdir(parents=True)
    assert (
        main(
            [
                "evaluate",
                "--samples",
                str(tmp_path / "s"),
                "--data",
                "digits",
                *FAST,
                "--no-prefect",
            ]
        )
        == 2
    )
    assert "not-a-digit" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", gan_runs["baseline"], *FAST, "--no-prefect"]) == 2
    assert "has no generator" in capsys.readouterr().err


def test_flow_publishes_report_and_table_artifacts(prefect_harness, gan_runs, tmp_path):
    from prefect.client.orchestration import get_client

    from ganflow.flows.evaluate import evaluate

    result = evaluate(
        checkpoint=gan_runs["gan"],
        num_samples=120,
        cas_steps=60,
        extractor_steps=300,
        inception="off",
        floor=False,
        run_dir=str(tmp_path / "run"),
    )
    assert isinstance(result["fid"], float) and "floor" not in result

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    import asyncio

    keys = {a.key for a in asyncio.run(artifacts())}
    assert {"evaluate-report", "evaluate-metrics"} <= keys


def test_inception_path_with_a_user_torchscript_file(capsys, tmp_path, gan_runs):
    """--inception on with --inception-weights: the file is loaded as TorchScript, images are
    made 3x299x299 in the FID input range, and its metrics sit beside the domain ones."""
    import torch

    class Pool(
        torch.nn.Module
    ):  # stands in for the Inception pool3 network: (N, 3, 299, 299) -> (N, 6)
        def forward(self, x):
            assert x.shape[1:] == (3, 299, 299)
            return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)

    path = tmp_path / "pool.pt"
    torch.jit.script(Pool()).save(str(path))
    out = _evaluate_json(
        capsys,
        "--checkpoint",
        gan_runs["gan"],
        "--no-prefect",
        "--no-floor",
        "--no-cas",
        "--run-dir",
        str(tmp_path / "run"),
        "--inception",
        "on",
        "--inception-weights",
        str(path),
    )
    inc = out["protocol"]["inception"]
    assert inc["used"] is True and inc["how"] == str(path)
    assert inc["protocol"]["extractor"]["resize"].startswith("bilinear to 299x299")
    assert isinstance(out["inception"]["fid"], float) and out["inception"]["is_mean"] is None
    from ganflow.flows.outputs import evaluate_table

    assert "Inception FID" in evaluate_table(out) and "Inception IS" not in evaluate_table(out)


@pytest.fixture(scope="module")
def other_family_runs(digits_bundle, tmp_path_factory):
    """A projection-conditioned GAN, an unconditional DCGAN-free MLP GAN and a semi-supervised
    AAE, each trained a few steps on digits."""
    from ganflow.flows.gan import make_config
    from ganflow.models.aae.config import AAEConfig
    from ganflow.tasks.data.streams import load_data
    from ganflow.tasks.train.aae import train_aae
    from ganflow.tasks.train.gan import train_gan
    from ganflow.tasks.train.trainer import RunConfig

    out = tmp_path_factory.mktemp("families")
    run = RunConfig(epochs=1, eval_every=1000)
    data = load_data("digits")
    small = {"arch": "mlp", "width": 32, "batch_size": 32}
    runs = {}
    for name, over in (("cgan", {"condition": "projection"}), ("gan", {})):
        runs[name] = train_gan(
            data, make_config("digits", {**small, **over}), run, out / name, steps=20
        )["checkpoint"]
    aae = AAEConfig(
        clusters=10,
        hidden=32,
        batch_size=32,
        labelled_batch_size=20,
        neighbours=0,
        frontend="pixels",
    )
    runs["aae-semi"] = train_aae(digits_bundle["path"], aae, run, out / "aae", semi=True)[
        "checkpoint"
    ]
    return runs


@pytest.mark.parametrize("family", ["cgan", "gan", "aae-semi"])
def test_every_image_family_is_evaluated_with_the_k_plus_1_protocol(
    family, other_family_runs, cli_result, capsys, tmp_path
):
    """`ganflow evaluate --checkpoint` gives a conditional GAN, an unconditional GAN and a
    semi-supervised AAE the same keys (floor and CAS included) as a K+1 GAN run, and the
    conditional ones the class consistency of their samples too."""
    got = _evaluate_json(
        capsys,
        "--checkpoint",
        other_family_runs[family],
        "--no-prefect",
        "--run-dir",
        str(tmp_path / "run"),
    )
    extra = set() if family == "gan" else {"class_consistency"}
    assert set(got) == set(json.loads(json.dumps(cli_result, default=str))) | extra
    if extra:
        assert 0.0 <= got["class_consistency"] <= 1.0
    assert set(got["floor"]) == set(cli_result["floor"]) and set(got["protocol"]) == set(
        cli_result["protocol"]
    )
    for key in RESULT_KEYS:
        assert isinstance(got[key], float), key
    labels = got["protocol"]["samples"]["labels"]
    if family == "gan":  # its samples carry no labels: CAS trains on the domain classifier's
        assert labels == "argmax of the domain classifier"
    else:
        assert labels.startswith("the condition each image was drawn with")
