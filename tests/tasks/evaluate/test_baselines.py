import dataclasses

import pytest
import torch

from ganflow.tasks.data.bundle import load_bundle
from ganflow.tasks.evaluate import baselines


@pytest.fixture(scope="module")
def bundle(digits_bundle):
    return load_bundle(digits_bundle["path"])


def test_classical_baselines_choose_by_cross_validation_and_beat_chance(bundle):
    got = baselines.classical_baselines(bundle)
    assert set(got) == {"label_spreading", "label_spreading_knn", "label_spreading_rbf",
                        "logistic_regression"}  # fmt: skip
    for r in got.values():
        assert 0.0 <= r["test_error"] < 0.3 and 0.0 <= r["choice_error"] < 0.5  # chance: 0.9
        assert r["chosen_on"] == "3-fold cross-validation on 50 labelled images"
    best = got["label_spreading"]
    assert best["choice_error"] == min(got["label_spreading_knn"]["choice_error"],
                                       got["label_spreading_rbf"]["choice_error"])  # fmt: skip
    assert got["label_spreading_knn"]["chosen"] in baselines.KNN_GRID
    assert got["logistic_regression"]["chosen"] in baselines.LR_GRID


def test_the_held_out_errors_are_those_of_fits_that_never_saw_the_fold(bundle):
    """Logistic regression's choice error, recomputed fold by fold here: each fold predicted
    by a fit on the other folds alone (a fit that saw the fold would get it nearly right)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from ganflow.tasks.data.bundle import labelled_folds

    f = baselines.features(bundle)
    lab = bundle.labelled.numpy()
    x, y = f["train"][lab], bundle.y_train.numpy()[lab]
    folds = [fold.numpy() for fold in labelled_folds(bundle.y_train[bundle.labelled], 3)]
    got = baselines.logistic_regression(bundle, f)
    want = []
    for setting in baselines.LR_GRID:
        wrong = 0
        for fold in folds:
            seen = np.setdiff1d(np.arange(len(lab)), fold)
            model = LogisticRegression(max_iter=2000, **setting).fit(x[seen], y[seen])
            wrong += int((model.predict(x[fold]) != y[fold]).sum())
        want.append(wrong / len(lab))
    assert got["choice_error"] == pytest.approx(min(want))
    assert got["chosen"] == baselines.LR_GRID[int(np.argmin(want))]
    assert min(want) > 0.0  # held out: not fitted on
    # the test error is the chosen setting's, refitted on every labelled image
    final = LogisticRegression(max_iter=2000, **got["chosen"]).fit(x, y)
    assert got["test_error"] == pytest.approx(
        float((final.predict(f["test"]) != bundle.y_test.numpy()).mean())
    )


def test_without_folds_the_validation_split_chooses(bundle):
    """One labelled image of some class: no fold can hold it out, so the validation split
    chooses (and says so); without one, the grid's middle setting."""
    lab = bundle.labelled
    one = lab[bundle.y_train[lab] != 0]
    one = torch.cat([one, lab[bundle.y_train[lab] == 0][:1]])
    single = dataclasses.replace(bundle, labelled=one)
    got = baselines.logistic_regression(single, baselines.features(single))
    assert got["chosen_on"].startswith("the validation split")
    assert got["choice_error"] is not None
    none = dataclasses.replace(single, x_val=single.x_val[:0], y_val=single.y_val[:0])
    got = baselines.logistic_regression(none, baselines.features(none))
    assert got["chosen"] == baselines.LR_GRID[len(baselines.LR_GRID) // 2]
    assert got["choice_error"] is None


def test_the_test_labels_never_choose_a_setting(bundle):
    """Scrambling the test labels changes the test errors, never the settings chosen."""
    g = torch.Generator().manual_seed(0)
    scrambled = dataclasses.replace(
        bundle, y_test=bundle.y_test[torch.randperm(len(bundle.y_test), generator=g)]
    )
    a, b = baselines.classical_baselines(bundle), baselines.classical_baselines(scrambled)
    for name in a:
        assert a[name]["chosen"] == b[name]["chosen"]
        assert b[name]["test_error"] > a[name]["test_error"] + 0.3


def test_the_labelled_images_are_the_only_labels_used(bundle):
    """Label spreading and logistic regression see labels of the labelled subset only:
    changing every other training label changes nothing."""
    y = bundle.y_train.clone()
    others = torch.ones(len(y), dtype=torch.bool)
    others[bundle.labelled] = False
    y[others] = (y[others] + 1) % bundle.num_classes
    a = baselines.classical_baselines(bundle)
    b = baselines.classical_baselines(dataclasses.replace(bundle, y_train=y))
    assert {k: r["test_error"] for k, r in a.items()} == {k: r["test_error"] for k, r in b.items()}


def test_wide_images_are_reduced_by_pca_first(bundle):
    wide = dataclasses.replace(
        bundle, x_train=bundle.x_train.repeat(1, 1, 2, 2), x_val=bundle.x_val.repeat(1, 1, 2, 2),
        x_test=bundle.x_test.repeat(1, 1, 2, 2),
    )  # fmt: skip
    f = baselines.features(wide)
    assert f["train"].shape == (len(bundle.x_train), baselines.PCA_DIMS)
    assert baselines.features(bundle)["train"].shape == (len(bundle.x_train), 64)


def test_label_spreading_on_scattering_features_joins_the_choice(bundle, digits_bundle):
    f = baselines.scattering_features(bundle, digits_bundle["path"], dims=40)
    assert f["train"].shape == (len(bundle.x_train), 40)
    assert f["test"].shape == (len(bundle.x_test), 40)
    got = baselines.classical_baselines(bundle, scattering=f)
    row = got["label_spreading_scattering"]
    assert 0.0 <= row["test_error"] < 0.3 and row["chosen"] in baselines.KNN_GRID
    rows = ("label_spreading_knn", "label_spreading_rbf", "label_spreading_scattering")
    assert got["label_spreading"]["choice_error"] == min(got[r]["choice_error"] for r in rows)
    # the graph comes from the features given: scrambled features make it worse
    g = torch.Generator().manual_seed(0)
    noise = {k: v[torch.randperm(len(v), generator=g).numpy()] for k, v in f.items()}
    worse = baselines.classical_baselines(bundle, scattering=noise)["label_spreading_scattering"]
    assert worse["test_error"] > row["test_error"] + 0.3


def test_an_image_far_from_every_pool_image_is_counted_without_a_warning(bundle):
    """Under the RBF grid's gammas a test image far from the whole pool has no weight to
    any pool image (scikit-learn divides 0 by 0): no RuntimeWarning reaches the user, and
    the image counts in the test error as the first class."""
    import warnings

    import numpy as np

    f = baselines.features(bundle)
    far = np.full((1, f["test"].shape[1]), 1e3, dtype=f["test"].dtype)
    f = {**f, "test": np.concatenate([f["test"], far])}
    y_test = torch.cat([bundle.y_test, torch.ones(1, dtype=bundle.y_test.dtype)])  # not class 0
    far_bundle = dataclasses.replace(bundle, y_test=y_test)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = baselines.label_spreading(far_bundle, f, "rbf")
    near = baselines.label_spreading(bundle, baselines.features(bundle), "rbf")
    n = len(bundle.y_test)
    assert got["chosen"] == near["chosen"]
    assert got["test_error"] == pytest.approx((near["test_error"] * n + 1) / (n + 1))
