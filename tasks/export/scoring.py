"""The evaluation suite's scores of an exported data set, for its manifest: CAS (a classifier
trained on the synthetic images, tested on the real test set, beside the same classifier
trained on as many real images) and the distribution metrics (FID, KID, IS, precision/recall,
density/coverage) in the domain classifier's features."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ganflow.tasks.data.sources import SourceOptions, load_source
from ganflow.tasks.evaluate.cas import classification_accuracy_score
from ganflow.tasks.export.generators import GeneratorSource

Scorer = Callable[[torch.Tensor, torch.Tensor, GeneratorSource], dict[str, Any]]


def export_scorer(
    device: str = "cpu",
    seed: int = 0,
    cas_min_steps: int = 200,
    distribution: bool = True,
    source: SourceOptions | None = None,
) -> Scorer:
    """A metrics function for export_dataset: scores the images it kept (up to
    ExportOptions.metric_samples) against the run's own data set."""

    def score(x: torch.Tensor, y: torch.Tensor, src: GeneratorSource) -> dict[str, Any]:
        if not src.data_name:
            return {"note": "the run does not record its data set: no metrics"}
        raw = load_source(src.data_name, source or src.source)
        x_test, y_test = torch.from_numpy(raw.test_x), torch.from_numpy(raw.test_y)
        out = classification_accuracy_score(
            x,
            y,
            torch.from_numpy(raw.train_x),
            torch.from_numpy(raw.train_y),
            x_test,
            y_test,
            len(src.class_names),
            seed=seed,
            device=device,
            min_steps=cas_min_steps,
        )
        if distribution:
            from ganflow.tasks.evaluate.extractors import reference_extractor
            from ganflow.tasks.evaluate.protocol import EvalParams
            from ganflow.tasks.evaluate.scores import distribution_metrics

            ext, _ = reference_extractor(raw, src.data_name, device)
            dist = distribution_metrics(ext, x_test, x, EvalParams(seed=seed))
            out["protocol"]["extractor"] = ext.info
            out.update({k: v for k, v in dist.items() if k != "protocol"})
        out["protocol"].update(data=src.data_name, scored_count=len(x), seed=seed)
        return out

    return score
