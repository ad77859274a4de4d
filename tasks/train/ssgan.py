"""Training the K+1-class semi-supervised GAN ("gan") or its supervised-only baseline
("baseline") on a prepared data bundle, with the shared trainer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.engine import Callback, Training, steps_for
from ganflow.models.layers import weight_norm_data_init
from ganflow.models.scattering import ScatteringFront
from ganflow.models.ssgan.config import SSGANConfig, resolve
from ganflow.models.ssgan.nets import build_models
from ganflow.models.ssgan.objective import build_baseline_training, build_training
from ganflow.tasks.data.bundle import DataBundle, labelled_folds, load_bundle
from ganflow.tasks.data.neighbours import (
    cached_neighbour_table,
    fitted_front,
    nearest_neighbours,
    neighbour_cache,
    neighbour_table,
    neighbour_weights,
    propagate_labels,
    scattering_table,
)
from ganflow.tasks.evaluate.classification import predict, predict_features
from ganflow.tasks.io import save_torch
from ganflow.tasks.progress import announced, say
from ganflow.tasks.train.checkpoint import CheckpointError, load_checkpoint, load_run
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.distributed import distribute, launch, rank_device
from ganflow.tasks.train.trainer import (
    CHECKPOINT_NAME,
    ProgressHook,
    RunConfig,
    Setup,
    bundle_run,
    run_training,
)

KINDS = ("gan", "baseline")


class _EvalClassifier:
    """The network the validation error is measured with: D, or a copy holding D's EMA,
    built once and without touching the training RNG stream (weight init draws)."""

    def __init__(
        self,
        bundle: DataBundle,
        cfg: SSGANConfig,
        seed: int,
        D: nn.Module,
        training: Training,
        device: torch.device,
    ) -> None:
        self.bundle, self.cfg, self.seed, self.D, self.training = bundle, cfg, seed, D, training
        self.device, self.copy = device, None

    def classifier(self) -> nn.Module:
        if self.training.ema is None:
            return self.D
        if self.copy is None:
            with torch.random.fork_rng(devices=[]):
                (c, side, _), k = self.bundle.image_shape, self.bundle.num_classes
                D = build_models(self.cfg, c, k, self.seed, side)["D"]
                self.copy = D.to(self.device)
        self.training.ema.copy_to(self.copy)
        return self.copy

    def error(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """The classification error on images x (N, C, H, W) with labels y, nan when empty."""
        if len(y) == 0:
            return float("nan")
        D = self.classifier()
        was_training = D.training
        pred = predict(D, x, self.device).argmax(1)
        D.train(was_training)
        return float((pred != y).float().mean())

    def __call__(self) -> float:
        return self.error(self.bundle.x_val, self.bundle.y_val)


# the most memory the scat arch's precomputed maps may take (float16); a larger pool is
# scattered batch by batch instead, with the shift augmentation
MAPS_MAX_BYTES = 2 << 30


def precomputed_views(
    D: nn.Module, bundle: DataBundle, cfg: SSGANConfig, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(maps (U, V, M, s, s), maps_lab (L, V, M, s, s)) float16: the scat arch's scattering
    maps of every training image, computed once instead of at every step (they have no
    parameters), V = 2 views (the image and its mirror image) with a flip augmentation,
    else 1; None for the other archs, or where they would take more than MAPS_MAX_BYTES."""
    if cfg.arch != "scat":
        return None
    front = D.body[0]
    side, n_views = front.side // 4, 2 if cfg.augment == "shift-flip" else 1
    x = bundle.x_train
    if len(x) * n_views * front.out_channels * side * side * 2 > MAPS_MAX_BYTES:
        return None

    def scatter() -> torch.Tensor:
        out = torch.empty(len(x), n_views, front.out_channels, side, side, dtype=torch.float16)
        with torch.no_grad():
            for i in range(0, len(x), 500):
                xi = x[i : i + 500].to(device).float() / 255.0
                for v in range(n_views):
                    out[i : i + 500, v] = front(xi.flip(-1) if v else xi).half().cpu()
        return out

    maps = announced(f"scattering maps of {len(x)} training images ({n_views} views)", scatter)
    return maps.to(device), maps[bundle.labelled].to(device)


def neighbours(
    bundle: DataBundle, cfg: SSGANConfig, bundle_path: str | Path | None = None
) -> torch.Tensor:
    """(N, k) each training image's nearest others among PCA projections of the pixels,
    cached beside the bundle (shared with the adversarial autoencoder's table) when its
    path is given."""
    k, dims = cfg.neighbour_k, cfg.neighbour_dims
    if bundle_path is None:
        return neighbour_table(bundle.x_train, k, dims)
    cache = neighbour_cache(bundle_path, k, f"d{dims}")
    return cached_neighbour_table(bundle.x_train, k, dims, cache)


def init_d(D: nn.Module, x: torch.Tensor, seed: int, device: torch.device, n: int = 500) -> None:
    """Weight norm's data-dependent initialisation of D on n unlabelled images drawn with
    the seed (the same on every rank and every resume; a resumed run loads its weights after)."""
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 4049))[:n]
    weight_norm_data_init(D, x[pick].to(device).float() / 255.0)


def graph_labels(
    bundle: DataBundle,
    cfg: SSGANConfig,
    bundle_path: str | Path | None = None,
    prior: torch.Tensor | None = None,
    joined: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, K) each training image's class distribution, spread from the labelled images over
    the graph of its graph_k nearest neighbours among whitened scattering features (each
    edge weighted by the two images' cosine similarity to the power graph_gamma), with
    graph_alpha (chosen by cross-validation on the labelled images, choose_graph_alpha,
    where it is None). A later round passes either `prior`, (N, K) the previous
    classifier's predictions, spread with the labels (with graph_prior_alpha in place of
    graph_alpha), or `joined`, (N, F) its features: the neighbours are then found among
    the scattering features and those, each scaled to unit length and joined. The front end's fit and the first neighbour
    table are cached beside the bundle when its path is given (the adversarial
    autoencoder's caches: one fit serves both families)."""
    cfg, labels = settle_graph_alpha(bundle, cfg, bundle_path)
    if labels is not None and prior is None and joined is None:
        return labels
    graph = _graph(bundle, cfg, bundle_path, joined)
    alpha = cfg.graph_alpha if prior is None else cfg.graph_prior_alpha
    return _spread(bundle, cfg, graph, alpha, prior)


def settle_graph_alpha(
    bundle: DataBundle,
    cfg: SSGANConfig,
    bundle_path: str | Path | None = None,
    chosen: float | None = None,
) -> tuple[SSGANConfig, torch.Tensor | None]:
    """(cfg with graph_alpha set, the first round's labels where they were spread to choose
    it): cfg as it is where graph_alpha is given; with `chosen` (a finished run's alpha)
    where it is None; else with the alpha choose_graph_alpha picks on the labelled images."""
    if cfg.graph_alpha is not None:
        return cfg, None
    labels = None
    if chosen is None:
        chosen, labels = choose_graph_alpha(bundle, cfg, bundle_path)
    return dataclasses.replace(cfg, graph_alpha=chosen), labels


GRAPH_ALPHA_FOLDS = 3  # folds of the labelled images graph_alpha is chosen by


def held_out_right(
    table: torch.Tensor,
    weights: torch.Tensor | None,
    labelled: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    alpha: float,
    folds: list[torch.Tensor],
    class_mass: bool = False,
) -> float:
    """The fraction of labelled images whose class the labels of the others give them: for
    each fold, the labels outside it spread over the graph (table, weights) with alpha,
    and each image of the fold scored by its spread label (the images stay in the graph)."""
    right = 0
    for fold in folds:
        keep = torch.ones(len(labelled), dtype=torch.bool)
        keep[fold] = False
        spread = propagate_labels(
            table, labelled[keep], labels[keep], num_classes, alpha,
            weights=weights, class_mass=class_mass,
        )  # fmt: skip
        right += int((spread[labelled[fold]].argmax(1) == labels[fold]).sum())
    return right / sum(len(f) for f in folds)


def choose_graph_alpha(
    bundle: DataBundle, cfg: SSGANConfig, bundle_path: str | Path | None = None
) -> tuple[float, torch.Tensor]:
    """(alpha, the labels spread with it): of graph_alpha_grid, the alpha whose spread labels
    are the most often right on labelled images held out of the spreading, by stratified
    cross-validation over GRAPH_ALPHA_FOLDS folds of the labelled images (ties: the first
    in the grid). Only the labelled images are used, never the validation split (the
    realistic protocol of Oliver et al. 2018: N labels per class are all a method sees).
    With one alpha in the grid, or a class with a single label, the grid's first."""
    graph = _graph(bundle, cfg, bundle_path, None)
    grid, lab = cfg.graph_alpha_grid, bundle.labelled
    y_lab = bundle.y_train[lab]
    folds = labelled_folds(y_lab, GRAPH_ALPHA_FOLDS) if len(grid) > 1 else []
    if not folds:
        return grid[0], _spread(bundle, cfg, graph, grid[0])
    _, _, table, weights = graph
    best: tuple[float, float] | None = None
    scores = []
    for alpha in grid:
        right = announced(
            f"graph_alpha {alpha:g}: {len(folds)}-fold cross-validation on {len(lab)} labelled images",
            held_out_right, table, weights, lab, y_lab, bundle.num_classes, alpha, folds,
            cfg.graph_class_mass,
        )  # fmt: skip
        scores.append(f"{alpha:g}: {100 * right:.1f} %")
        if best is None or right > best[1]:
            best = (alpha, right)
    assert best is not None
    say(
        f"graph_alpha {best[0]:g}, chosen by {len(folds)}-fold cross-validation on the "
        f"{len(lab)} labelled images (held-out labels right at {', '.join(scores)})"
    )
    return best[0], _spread(bundle, cfg, graph, best[0])


def _graph(
    bundle: DataBundle,
    cfg: SSGANConfig,
    bundle_path: str | Path | None,
    joined: torch.Tensor | None,
) -> tuple[ScatteringFront, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(fitted front end, training features, (N, k) neighbour table, (N, k) edge weights) of
    graph_labels's graph."""
    x, k = bundle.x_train, cfg.graph_k
    if len(x) <= k:
        raise ValueError(f"graph labels need more than graph_k={k} training images, got {len(x)}")
    try:  # at most graph_dims components: fewer where there are few images or coefficients
        front, features = fitted_front(x, bundle_path, cfg.graph_dims)
    except ValueError as e:
        raise ValueError(f"graph_weight needs the scattering front end: {e}") from None
    if joined is not None:
        features = torch.cat([F.normalize(features.float(), dim=1), F.normalize(joined, dim=1)], 1)
        what = f"the {k} nearest neighbours of {len(x)} images among their joined features"
        table = announced(what, nearest_neighbours, features, k)
    else:
        table, _ = scattering_table(x, features, k, bundle_path)
    return front, features, table, neighbour_weights(features, table, cfg.graph_gamma)


def _spread(
    bundle: DataBundle,
    cfg: SSGANConfig,
    graph: tuple[ScatteringFront, torch.Tensor, torch.Tensor, torch.Tensor | None],
    alpha: float,
    prior: torch.Tensor | None = None,
) -> torch.Tensor:
    """The labels (and the prior) spread over `graph` (from _graph) with `alpha`."""
    _, _, table, weights = graph
    lab = bundle.labelled
    what = f"spreading {len(lab)} labels" + ("" if prior is None else " and the predictions")
    return announced(
        f"{what} over the neighbour graph (alpha {alpha:g})",
        lambda: propagate_labels(
            table,
            lab,
            bundle.y_train[lab],
            bundle.num_classes,
            alpha,
            prior=prior,
            weights=weights,
            class_mass=cfg.graph_class_mass,
        ),
    )


def setup(
    bundle: DataBundle,
    cfg: SSGANConfig,
    run: RunConfig,
    kind: str,
    device: torch.device,
    bundle_path: str | Path | None = None,
    graph: torch.Tensor | None = None,
    will_train: bool = True,
) -> Setup:
    """The K+1 GAN (kind "gan") or its baseline over the bundle's labelled and unlabelled
    images; the bundle's path names the cache of the neighbour table, when one is needed;
    graph, the spread labels where the caller computed them (graph_labels) for a round;
    will_train False: a finished run read back, which takes no step (the scat arch's maps
    are not computed for it)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    c, h, w = bundle.image_shape
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    cfg = resolve(cfg, h, accelerated=device.type != "cpu")
    torch.manual_seed(run.seed)
    models = {
        k: m.to(device) for k, m in build_models(cfg, c, bundle.num_classes, run.seed, h).items()
    }
    if cfg.data_init and cfg.weight_norm:
        init_d(models["D"], bundle.x_train, run.seed, device)
    data = {
        "x_lab": bundle.x_train[bundle.labelled].to(device),
        "y_lab": bundle.y_train[bundle.labelled].to(device),
        "x_unl": bundle.x_train.to(device),
    }
    views = precomputed_views(models["D"], bundle, cfg, device) if will_train else None
    if views is not None:
        data["maps"], data["maps_lab"] = views
    if kind == "gan" and cfg.neighbour_weight > 0:
        data["neighbours"] = neighbours(bundle, cfg, bundle_path).to(device)
    if kind == "gan" and cfg.graph_weight > 0 and graph is None:
        cfg, graph = settle_graph_alpha(bundle, cfg, bundle_path)  # the record keeps it
        if graph is None:
            graph = graph_labels(bundle, cfg, bundle_path)
    if graph is not None:
        data["graph"] = graph.to(device)
    total = steps_for(run.epochs, len(bundle.x_train), cfg.batch_size)
    build = build_training if kind == "gan" else build_baseline_training
    training = build(models, cfg, data, total, run.seed)
    record, extra = bundle_run("ssgan", kind, cfg, run, total, bundle)
    return Setup(
        kind,
        models,
        training,
        total,
        record,
        extra=extra,
        validation=_EvalClassifier(bundle, cfg, run.seed, models["D"], training, device),
        batch_size=cfg.batch_size if kind == "gan" else cfg.labelled_batch_size,
        hint="Try a lower learning rate (--set lr_d=..., lr_g=...) or precision fp32.",
    )


def train(
    bundle_path: str | Path,
    cfg: SSGANConfig,
    run: RunConfig,
    out_dir: str | Path,
    kind: str = "gan",
    progress: ProgressHook | None = None,
    callbacks: Sequence[Callable[[DataBundle, Setup], Callback]] = (),
) -> dict[str, Any]:
    """Train (or resume, or reuse a finished) `kind` model in out_dir; returns a small dict:
    checkpoint path, steps, wall time, throughput, final validation error, resolved config.
    Each of `callbacks` is called with the bundle and the setup and returns an engine
    callback (a benchmark's learning curve, say)."""
    if run.gpus > 1 and callbacks:
        raise ValueError("callbacks run in one process; use gpus=1 with them")
    bundle = load_bundle(bundle_path)
    device = None if run.gpus > 1 else select_device(run.device)
    cfg = _recorded_arch(cfg, out_dir)
    handed: dict[str, torch.Tensor] = {}  # what a round hands the next: graph_labels's keywords
    walls = []
    # a finished run is only read back (or refused, where its config differs): neither the
    # rounds before it nor the labels it trained on are needed again
    finished = _finished(out_dir)
    reuse = finished is not None
    first = None  # the first round's labels, where they were spread choosing the alpha
    if _uses_graph(bundle, cfg, kind):
        # every round spreads with one alpha: a finished run's, or the one chosen now
        chosen = (finished or {}).get("model", {}).get("graph_alpha")
        cfg, first = settle_graph_alpha(bundle, cfg, bundle_path, chosen)
    earlier_dirs = [
        Path(out_dir) / f"graph-round{r}" for r in range(1, graph_rounds(bundle, cfg, kind))
    ]
    for earlier_dir in [] if reuse else earlier_dirs:  # the earlier rounds
        earlier = _train_round(
            bundle,
            bundle_path,
            cfg,
            run,
            earlier_dir,
            kind,
            device,
            handed,
            progress,
            callbacks,
            graph=first,
        )
        first = None
        walls.append(earlier["wall_s"])
        posterior, features = round_outputs(
            earlier["checkpoint"], bundle, device or torch.device("cpu")
        )
        handed = {"joined": features} if cfg.graph_rebuild else {"prior": posterior}
    result = _train_round(
        bundle,
        bundle_path,
        cfg,
        run,
        out_dir,
        kind,
        device,
        handed,
        progress,
        callbacks,
        reuse,
        first,
    )
    if reuse:  # the earlier rounds' training, as their checkpoints record it
        walls = [_recorded_train_s(d) for d in earlier_dirs]
    if walls:  # the training time of every round
        result["wall_s"] = round(result["wall_s"] + sum(walls), 2)
    return result


def _recorded_arch(cfg: SSGANConfig, out_dir: str | Path) -> SSGANConfig:
    """`arch: auto` picks by device (conv on a GPU, convs on a CPU): a run that out_dir
    already holds a checkpoint of keeps the network it was started with, so a run begun on
    a GPU resumes (or is read back) on a CPU, and the other way round."""
    if cfg.arch != "auto":
        return cfg
    out = Path(out_dir)
    for d in (out, *sorted(out.glob("graph-round*"))):
        if not (d / CHECKPOINT_NAME).is_file():
            continue
        try:
            arch = load_checkpoint(d / CHECKPOINT_NAME)["config"]["model"]["arch"]
        except (CheckpointError, KeyError, TypeError):
            continue  # the trainer names what is wrong with it
        if arch != "auto":
            return dataclasses.replace(cfg, arch=arch)
    return cfg


def _recorded_train_s(out_dir: Path) -> float:
    """The training seconds out_dir's checkpoint records; 0 where there is none to read."""
    try:
        return float(load_checkpoint(out_dir / CHECKPOINT_NAME).get("train_s", 0.0))
    except CheckpointError:
        return 0.0


def _train_round(
    bundle: DataBundle,
    bundle_path: str | Path,
    cfg: SSGANConfig,
    run: RunConfig,
    out_dir: str | Path,
    kind: str,
    device: torch.device | None,
    handed: dict[str, torch.Tensor],
    progress: ProgressHook | None,
    callbacks: Sequence[Callable[[DataBundle, Setup], Callback]],
    reuse: bool = False,
    graph: torch.Tensor | None = None,
) -> dict[str, Any]:
    """One training in out_dir: in this process on `device`, or (device None) spread over
    run.gpus processes. The labels are spread here, once (with `handed`, what the previous
    round hands on: graph_labels's prior or joined); spread ranks read them from a file
    beside the checkpoint. `reuse`: out_dir holds a finished run, which takes no step, so
    the labels are not spread (zeros stand in for them); `graph`: the labels, where the
    caller spread them already."""
    if graph is None and _uses_graph(bundle, cfg, kind):
        graph = (
            torch.zeros(len(bundle.x_train), bundle.num_classes)
            if reuse
            else graph_labels(bundle, cfg, bundle_path, **handed)
        )
    if device is None:
        payload = {"bundle_path": str(bundle_path), "cfg": cfg.to_dict(), "run": run.to_dict(),
                   "out_dir": str(out_dir), "kind": kind}  # fmt: skip
        if graph is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            payload["graph"] = str(Path(out_dir) / "graph-labels.pt")
            save_torch(payload["graph"], graph)
        return launch("ssgan", payload, run.gpus, out_dir)
    s = setup(bundle, cfg, run, kind, device, bundle_path, graph, will_train=not reuse)
    extra = [make(bundle, s) for make in callbacks]
    _, result = run_training(s, run, out_dir, device, progress, extra)
    return {**result, "config": s.record["model"]}


def _finished(out_dir: str | Path) -> dict[str, Any] | None:
    """The record (bundle_run's) of the run out_dir holds where it took all its steps, else
    None."""
    path = Path(out_dir) / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError:
        return None  # the trainer names what is wrong with it
    done = int(ckpt["step"]) >= int(ckpt["config"].get("total_steps", -1))
    return ckpt["config"] if done else None


def _uses_graph(bundle: DataBundle, cfg: SSGANConfig, kind: str) -> bool:
    """Whether the run trains on graph labels: the K+1 GAN with graph_weight (resolved) on."""
    return kind == "gan" and resolve(cfg, bundle.image_shape[-1]).graph_weight > 0


def graph_rounds(bundle: DataBundle, cfg: SSGANConfig, kind: str) -> int:
    """How many trainings a run is: graph_rounds for the K+1 GAN with graph labels, else 1."""
    return cfg.graph_rounds if _uses_graph(bundle, cfg, kind) else 1


def round_outputs(
    checkpoint: str | Path, bundle: DataBundle, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A finished round's discriminator on the training images: its class posterior (N, K)
    and its last hidden layer's features (N, F), on the CPU."""
    run = load_run(checkpoint, device)
    logits, features = predict_features(run.family.classifier(run), bundle.x_train, device)
    return logits.softmax(1), features


def train_rank(payload: dict[str, Any]) -> dict[str, Any]:
    """One rank of a training spread over processes (tasks/train/distributed.py)."""
    import torch.distributed as dist

    run = RunConfig.from_dict(payload["run"])
    device = rank_device(run.device)
    bundle = load_bundle(payload["bundle_path"])
    cfg = SSGANConfig.from_dict(payload["cfg"])
    graph = torch.load(payload["graph"], weights_only=True) if "graph" in payload else None
    s = setup(bundle, cfg, run, payload["kind"], device, payload["bundle_path"], graph)
    counter: dict[str, int] = {}
    s.training.grad_sync = distribute(s.models, counter)
    _, result = run_training(s, run, payload["out_dir"], device)
    seen = [None] * dist.get_world_size()
    dist.all_gather_object(seen, counter.get("images", 0))
    return {**result, "config": s.record["model"], "ranks": len(seen), "rank_images": seen}
