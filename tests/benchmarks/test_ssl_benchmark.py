import json

import pytest
from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("ssl_benchmark")


def test_time_to_is_the_first_point_at_the_accuracy(bench):
    curve = bench.Curve.__new__(bench.Curve)
    curve.points = [
        {"step": 250, "train_s": 10.0, "all_s": 15.0, "val_error": 0.30, "test_error": 0.35},
        {"step": 500, "train_s": 20.0, "all_s": 26.0, "val_error": 0.19, "test_error": 0.22},
        {"step": 750, "train_s": 30.0, "all_s": 37.0, "val_error": 0.25, "test_error": 0.18},
    ]
    got = curve.time_to(0.80)
    assert got["val"] == {"train_s": 20.0, "all_s": 26.0, "step": 500, "best_accuracy": 0.81}
    assert got["test"] == {"train_s": 30.0, "all_s": 37.0, "step": 750, "best_accuracy": 0.82}
    never = curve.time_to(0.9)["test"]
    assert never == {"train_s": None, "all_s": None, "step": None, "best_accuracy": 0.82}
    summary = bench.time_to_summary([curve, curve], 0.80)
    assert summary["mean"]["test"] == {"train_s": 30.0, "all_s": 37.0}
    assert bench.time_to_summary([curve], 0.9)["mean"]["val"]["train_s"] is None


def test_json_has_every_method_and_the_time_to(bench, tmp_path, capsys):
    code = bench.main(["--data", "digits", "--labels-per-class", "5", "--seeds", "0,1", "--epochs", "2",
                       "--time-to", "0.2", "--curve-every", "5", "--out", str(tmp_path), "--json",
                       "--set", "arch=mlp8s"])  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    graphs = ("label_spreading_knn", "label_spreading_rbf", "label_spreading_scattering")
    for method in ("gan", "baseline", "label_spreading", "logistic_regression", *graphs):
        r = doc[method]
        assert set(r) >= {"test_error_mean", "test_error_std", "test_errors"}
        assert len(r["test_errors"]) == 2 and all(0 <= e <= 1 for e in r["test_errors"])
    for i, e in enumerate(doc["label_spreading"]["test_errors"]):  # per seed, one of the three
        assert e in {doc[g]["test_errors"][i] for g in graphs}
    assert doc["config"]["graph_weight"] is None  # resolved per image size: the default
    assert len(doc["gan"]["graph_alpha"]) == 2  # chosen on each split's validation images
    assert set(doc["gan"]["graph_alpha"]) <= set(doc["config"]["graph_alpha_grid"])
    t = doc["time_to"]
    assert t["accuracy"] == 0.2 and len(t["per_seed"]) == 2
    for split in ("val", "test"):  # 20 % accuracy: reached at the first point, step 5
        assert t["per_seed"][0][split]["step"] == 5
        assert 0 < t["mean"][split]["train_s"] <= t["mean"][split]["all_s"]


def test_bad_accuracy_is_refused(bench, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--time-to", "80"])
    assert e.value.code == 2 and "an accuracy in (0, 1), got 80" in capsys.readouterr().err


def test_bad_settings_and_data_folders_end_in_one_line(bench, tmp_path, capsys):
    code = bench.main(["--data", "digits", "--set", "graph_alpha_grid=[0.95, 1.5]"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "graph_alpha_grid[1] must be in (0, 1)" in err
    code = bench.main(
        ["--data", "fashion-mnist", "--data-root", str(tmp_path), "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "IDX files" in err


def test_ablate_runs_a_row_over_every_seed_before_the_next(
    bench, tmp_path, capsys, monkeypatch, set_train_s
):
    monkeypatch.setattr(
        bench, "ABLATIONS", [("default", {}), ("weight norm off", {"weight_norm": False})]
    )
    monkeypatch.setattr(bench, "ARCH_ROWS", {})
    args = (
        "--data digits --labels-per-class 5 --seeds 0,1 --epochs 1 --ablate --no-classical --json"
    )
    args = [*args.split(), "--out", str(tmp_path), "--set", "arch=mlp8s"]
    assert bench.main(args) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert list(doc["ablations"]) == ["default", "weight norm off"]
    assert all(len(r["test_errors"]) == 2 for r in doc["ablations"].values())
    lines = [ln for ln in captured.err.splitlines() if ln.startswith(("seed ", "row "))]
    want = ["seed 0 default", "seed 1 default", "row 1/2 default"]
    want += ["seed 0 weight norm off", "seed 1 weight norm off", "row 2/2 weight norm off"]
    assert [ln.split(":")[0] for ln in lines] == want
    # given the same --out, the finished runs are read back: the same errors, and the wall
    # time their checkpoints record (each round's), not the moment spent reading them
    for ckpt in tmp_path.rglob("checkpoint.pt"):
        set_train_s(ckpt, 100.0)
    assert bench.main(args) == 0
    again = json.loads(capsys.readouterr().out)
    for name, row in again["ablations"].items():
        assert row["test_errors"] == doc["ablations"][name]["test_errors"]
        assert row["wall_s_mean"] == 100.0 * doc["config"]["graph_rounds"]
