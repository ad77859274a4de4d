"""benchmarks/paper_tables.py: its rows hold the paper's figure beside each ganflow column,
one seed shows no spread, and bad arguments get one line and exit 2."""

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_module import load_benchmark
from idx_files import write_idx


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("paper_tables")


def _tiny_mnist(root: Path, n_train: int = 300, n_test: int = 60) -> Path:
    """root/mnist with the four IDX files: bars whose position is the class, with noise."""
    d = root / "mnist"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            x[i, :, 2 + 2 * c : 4 + 2 * c] = 255
        write_idx(d / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", y)
    return root


def test_the_mnist_table_sets_each_column_beside_the_paper(bench, tmp_path, capsys):
    root = _tiny_mnist(tmp_path / "data")
    argv = ["--table", "salimans-mnist", "--quick", "--data-root", str(root),
            "--out", str(tmp_path / "out"), "--json"]  # fmt: skip
    assert bench.main(argv) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    (row,) = doc["rows"]  # --quick: 100 labels only
    assert row["row"] == "100" and row["paper"] == {"mean": 0.93, "std": 0.065}
    assert row["validation_labels"] == 0  # the labelled images are all a method sees
    for col in ("faithful", "defaults", "baseline", "logistic_regression"):
        assert row[col]["n"] == 1 and 0.0 <= row[col]["mean"] <= 100.0
    assert "label_spreading" not in row  # --quick leaves it out
    # the bars are easy: logistic regression on the 100 labels gets them (the networks have
    # 3 steps of one epoch here: their figures are only in range)
    assert row["logistic_regression"]["mean"] < 20.0
    text = bench.render(doc)
    assert "| 100 | 0.93 ± 0.07 |" in text and "±" not in text.split("| 100 | 0.93 ± 0.07 |")[1]


@pytest.mark.parametrize(
    "argv, names",
    [
        (["--data-root", "/nonexistent/ganflow"], "/nonexistent/ganflow"),
        (["--val-fraction", "1"], "--val-fraction"),
        (["--seeds", ""], "seed"),
        (["--table", "nosuch"], "nosuch"),
        (["--labels", "30"], "--labels"),
        (["--epochs", "0"], "--epochs"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(bench, argv, names, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert names in err[-1] and "Traceback" not in "\n".join(err)
