"""What the commands print: a table for people, or (--json) one JSON object with the keys
the README documents. Progress and logs go to stderr, so stdout stays clean."""

from __future__ import annotations

import json
from typing import Any

from ganflow.tasks.evaluate.metrics import SAMPLE_METRICS
from ganflow.tasks.report.clusters import fmt_mean_std as pm
from ganflow.tasks.report.evaluation import LABELS, RESULT_KEYS
from ganflow.tasks.report.gan import fmt_score


def semi_supervised_table(summary: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, Any]) -> str:
        per_seed = ", ".join(f"{100 * e:.2f}" for e in s["test_errors"])
        return f"{name:<22} {100 * s['test_error_mean']:>6.2f} ± {100 * s['test_error_std']:<5.2f}  {per_seed}"

    lines = [
        f"{summary['data']}: {summary['labels_per_class']} labels per class, seeds {summary['seeds']}, {summary['epochs']} epochs",
        f"{'model':<22} {'test error %':>14}  per seed",
        row("K+1 GAN", summary["gan"]),
        row("supervised baseline", summary["baseline"]),
        f"report: {summary['report']}",
    ]
    return "\n".join(lines)


def semi_supervised_json(summary: dict[str, Any]) -> dict[str, Any]:
    """The documented --json object of `semi-supervised` (see README)."""
    keep = (
        "test_error_mean",
        "test_error_std",
        "test_errors",
        "per_class_accuracy",
        "checkpoints",
        "wall_s",
        "images_per_s",
    )
    return {
        "gan": {k: summary["gan"][k] for k in keep},
        "baseline": {k: summary["baseline"][k] for k in keep},
        "run_dir": summary["run_dir"],
        "report": summary["report"],
        "metrics": summary["metrics"],
        "data": summary["data"],
        "labels_per_class": summary["labels_per_class"],
        "seeds": summary["seeds"],
        "epochs": summary["epochs"],
        "fingerprints": summary["fingerprints"],
        "config": summary["config"],
        "graph_alpha": summary["graph_alpha"],
    }


def cluster_json(summary: dict[str, Any]) -> dict[str, Any]:
    """The documented --json object: means as the top-level numbers, the rest beside them."""
    out: dict[str, Any] = {
        "cluster_accuracy": (summary["cluster_accuracy"] or {}).get("mean"),
        "hungarian_accuracy": (summary["hungarian_accuracy"] or {}).get("mean"),
        "nmi": (summary["nmi"] or {}).get("mean"),
    }
    if summary["mode"] == "semi-supervised":
        out.update(
            test_error_mean=summary["test_error"]["mean"],
            test_error_std=summary["test_error"]["std"],
            baseline_test_error_mean=summary["baseline_test_error"]["mean"],
            baseline_test_error_std=summary["baseline_test_error"]["std"],
        )
    keep = (
        "mode",
        "data",
        "clusters",
        "seeds",
        "epochs",
        "per_seed",
        "assignments",
        "pictures",
        "run_dir",
        "report",
        "metrics",
        "config",
        "wall_s",
        "checkpoints",
    )
    return {**out, **{k: summary[k] for k in keep}}


def cluster_table(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['data']}: {summary['mode']}, {summary['clusters']} clusters, seeds {summary['seeds']}, "
        f"{summary['epochs']} epochs",
        f"cluster accuracy %   {pm(summary['cluster_accuracy'])}",
        f"Hungarian accuracy % {pm(summary['hungarian_accuracy'])}",
        f"NMI                  {pm(summary['nmi'], pct=False)}",
    ]
    if summary["mode"] == "semi-supervised":
        lines += [
            f"AAE test error %     {pm(summary['test_error'])}",
            f"baseline test error % {pm(summary['baseline_test_error'])}",
        ]
    lines += [f"assignments: {summary['assignments']}", f"report: {summary['report']}"]
    return "\n".join(lines)


def gan_json(summary: dict[str, Any]) -> dict[str, Any]:
    if "rows" in summary:  # grid
        return {k: summary[k] for k in ("data", "grid", "seeds", "rows", "run_dir")}
    means = {k: v["mean"] for k, v in summary["scores"].items()}
    keep = (
        "data",
        "config",
        "seeds",
        "steps",
        "scores",
        "per_seed",
        "run_dir",
        "report",
        "checkpoints",
        "wall_s",
    )
    return {**means, **{k: summary[k] for k in keep}}


def gan_table(summary: dict[str, Any]) -> str:
    if "rows" in summary:
        return f"{summary['data']}, seeds {summary['seeds']}\n{summary['table']}\nrun: {summary['run_dir']}"
    loss = summary["config"].get("loss")  # the families beside the GAN have their own
    what = f"{loss} loss" if loss else summary.get("family", "gan")
    lines = [f"{summary['data']}: {what}, seeds {summary['seeds']}, {summary['steps']} steps"]
    width = max((len(k) for k in summary["scores"]), default=0)
    lines += [f"{k:<{width}} {fmt_score(v, k)}" for k, v in summary["scores"].items()]
    if summary.get("report"):
        lines.append(f"report: {summary['report']}")
    return "\n".join(lines)


def evaluate_table(result: dict[str, Any]) -> str:
    floor = result.get("floor") or {}
    ext = result["protocol"]["extractor"]
    acc = f" (test accuracy {100 * ext['test_accuracy']:.2f} %)" if "test_accuracy" in ext else ""
    lines = [
        f"{result['protocol']['data']}: {result['protocol']['fake_count']} samples vs {result['protocol']['real']['count']} test images; "
        f"features: {ext['name']}{acc}",
        f"{'metric':<34} {'samples':>10} {'floor':>10}",
    ]

    def row(label: str, v: float | None, f: float | None) -> str:
        return f"{label:<34} {'-' if v is None else f'{v:.4g}':>10} {'-' if f is None else f'{f:.4g}':>10}"

    lines += [row(LABELS[k], result.get(k), floor.get(k)) for k in RESULT_KEYS]
    if "inception" in result:
        inc, finc = result["inception"], floor.get("inception", {})
        lines += [
            row(f"Inception {LABELS[k]}", inc.get(k), finc.get(k))
            for k in SAMPLE_METRICS
            if inc.get(k) is not None
        ]
    lines += [f"inception: {result['protocol']['inception']['how']}", f"report: {result['report']}"]
    return "\n".join(lines)


def export_table(r: dict[str, Any]) -> str:
    lines = [
        f"exported {r['count']} images to {r['path']} (version {r['version']}, {r['images_per_s']} images/s)"
    ]
    lines += [f"  {k:<20} {v}" for k, v in r["per_class"].items()]
    m = r.get("metrics") or {}
    if "cas_accuracy" in m:
        lines.append(
            f"CAS {100 * m['cas_accuracy']:.2f} % (as many real images: {100 * m['real_accuracy']:.2f} %)"
        )
    if "fid" in m:
        lines.append(f"FID {m['fid']:.2f} (domain features)")
    return "\n".join(lines)


def datasets_table(action: str, result: Any) -> str:
    if action == "list":
        if not result:
            return "no exported data sets"
        return "\n".join(
            f"{r['name']:<28} {r['version']:<5} {'latest' if r['latest'] else '':<7} "
            f"{r.get('count', '?'):>7} images  {r.get('generator', '?'):<6} {r.get('created', '')}"
            f"{'  ERROR: ' + r['error'] if 'error' in r else ''}"
            for r in result
        )
    if action == "show":
        shown = {k: v for k, v in result.items() if k != "files"}
        return (
            json.dumps(shown, indent=2) + f"\n({len(result['files'])} files with SHA-256 checksums)"
        )
    if result["ok"]:
        return f"OK: {result['checked']} files match their checksums in {result['path']}"
    return f"FAILED: {result['path']}\n" + "\n".join(f"  {p}" for p in result["problems"])


def augment_json(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k != "params"}


def augment_table(s: dict[str, Any]) -> str:
    def pm(m: str) -> str:
        if s[m + "_mean"] is None:
            return "  (not scored)"
        return f"{100 * s[m + '_mean']:6.2f} ± {100 * s[m + '_std']:.2f}"

    return "\n".join(
        [
            f"{s['data']}: {s['labels_per_class']} labels per class, {s['generator']} generator, seeds {s['seeds']}",
            f"real only            {pm('real_only_accuracy')} % accuracy",
            f"real + synthetic     {pm('real_plus_synthetic_accuracy')} %",
            f"synthetic only (CAS) {pm('cas_accuracy')} %  (as many real: {pm('cas_real_accuracy')} %)",
            f"export: {s['export_path']}",
            f"report: {s['report']}",
        ]
    )
