"""The classifiers' training budget: it follows the data, stops early on a held-out split or
a time cap, and keeps the best weights."""

import torch

from ganflow.models.classifiers import (
    ClassifierTraining,
    EarlyStopping,
    build_classifier,
    classifier_steps,
    train_classifier,
    validation_split,
)


def _blobs(n: int = 200, noise: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = (torch.rand(n, 1, 8, 8, generator=g) * noise + 150 * y[:, None, None, None]).clamp(0, 255)
    return x.to(torch.uint8), y


def test_the_budget_follows_the_data():
    cfg = ClassifierTraining(epochs=30, min_steps=200, batch_size=100)
    assert classifier_steps(50, cfg) == 200  # a tiny set: the step floor
    assert classifier_steps(54_000, cfg) == 30 * 540  # a large one: the epochs


def test_validation_split_is_stratified_disjoint_and_absent_for_tiny_sets():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 1)
    tr, va = validation_split(y, 0.1, seed=0)
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(81))
    assert torch.bincount(y[va], minlength=3).tolist() == [5, 3, 0]
    tr, va = validation_split(y[:19], 0.1, seed=0)
    assert len(va) == 0 and len(tr) == 19


def test_early_stopping_ends_an_easy_problem_and_keeps_the_best_weights():
    x, y = _blobs()
    cfg = ClassifierTraining(epochs=200, min_steps=0, batch_size=20, patience=2, seed=1)
    model = build_classifier("lenet", (1, 8, 8), 2, seed=1)
    done = train_classifier(model, x, y, cfg)
    assert done["stopped"] == "patience" and done["steps"] < done["budget_steps"]
    assert done["val_count"] == 20 and done["val_accuracy"] == 1.0
    # the model is left with the weights of its best measurement
    _, va = validation_split(y, cfg.val_fraction, cfg.seed)
    stop = EarlyStopping(model, x[va], y[va], 1, 0, None, 1)
    assert stop.accuracy() == done["val_accuracy"]


def test_a_time_cap_stops_training_at_once():
    x, y = _blobs()
    cfg = ClassifierTraining(epochs=50, min_steps=0, batch_size=20, max_seconds=0.0)
    done = train_classifier(build_classifier("lenet", (1, 8, 8), 2), x, y, cfg)
    assert done["stopped"] == "time" and done["steps"] == 1


def test_a_time_cap_never_cuts_training_below_its_floor_of_steps():
    # large images under a short cap used to stop after a dozen steps: a score of nothing
    x, y = _blobs()
    cfg = ClassifierTraining(epochs=50, min_steps=7, batch_size=20, max_seconds=0.0)
    done = train_classifier(build_classifier("lenet", (1, 8, 8), 2), x, y, cfg)
    assert done["stopped"] == "time" and done["steps"] == 7


def test_a_time_cap_shortens_the_schedule_so_the_learning_rate_still_decays_to_zero(monkeypatch):
    import ganflow.models.classifiers as C

    clock = iter(range(0, 10**6))  # one "second" per call to the clock: a known step rate
    monkeypatch.setattr(C.time, "monotonic", lambda: float(next(clock)))
    lrs = []
    real_fit = C.fit

    def spy(phases, *a, **k):  # records the learning rate after each step
        class Rec:
            def on_step(self, step, logs):
                lrs.append(phases[0].optimizer.param_groups[0]["lr"])

            def on_end(self, step, ok):
                pass

        return real_fit(phases, *a, callbacks=[*k.pop("callbacks"), Rec()], **k)

    monkeypatch.setattr(C, "fit", spy)
    x, y = _blobs()
    cfg = ClassifierTraining(epochs=500, min_steps=0, batch_size=20, patience=0, max_seconds=400.0)
    done = train_classifier(build_classifier("lenet", (1, 8, 8), 2), x, y, cfg)
    assert done["stopped"] == "time" and 100 < done["steps"] < done["budget_steps"] // 10
    assert lrs[-1] < 1e-3 * cfg.lr and lrs[len(lrs) // 2] > 0.3 * cfg.lr
