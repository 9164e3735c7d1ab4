"""The ablation of issue 17: which of the paper's ideas makes the animation better, measured against ground truth.

Four variants of the bundled model, each trained at two seeds with one common
2,000-step schedule (``checkpoints/ablation/<variant>.yaml``), evaluated by
``fomm-nb evaluate`` on 50 held-out procedural videos with AKD read by the
independent landmark detector. ``checkpoints/ablation/results.json`` holds
every run and each variant's mean and spread; ``scripts/ablation.py`` trains
and evaluates them; docs/ablation.md reads the table.

Example:
    >>> results = load_results()
    >>> sorted(results["variants"]) == sorted(VARIANTS)
    True
    >>> markdown_table(results).splitlines()[0].startswith("| variant |")
    True
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import FirstOrderModel

__all__ = ["ABLATION_DIR", "VARIANTS", "SEEDS", "FIGURES", "TABLE_FIGURES", "checkpoint_path", "load_variant",
           "load_results", "run_name", "figures", "summarise", "compare", "markdown_table"]

#: ``checkpoints/ablation/`` beside the package: the variants' configs and weights, and results.json.
ABLATION_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "ablation"
#: What each variant removes from the full model (the bundled model's architecture and losses).
VARIANTS = {
    "full": "the bundled model: keypoints with Jacobians, equivariance on both, occlusion map",
    "zero-order": "keypoints only, no Jacobians (as in Monkey-Net): the sparse motions are translations",
    "no-occlusion": "no occlusion map: every warped feature is decoded as if visible",
    "no-jacobian-equivariance": "Jacobians learned without their equivariance loss (keypoint equivariance kept)",
}
SEEDS = (1, 2)

#: The figures of each run that the tables show: name -> (metric, divided by) with None for the raw value.
FIGURES = {
    "reconstruction L1": ("reconstruction_l1/model", None),
    "L1 / no motion": ("reconstruction_l1/model", "reconstruction_l1/no_motion"),
    "L1 / affine": ("reconstruction_l1/model", "reconstruction_l1/affine"),
    "AKD (px)": ("akd/model", None),
    "AKD / no motion": ("akd/model", "akd/no_motion"),
    "AKD / affine": ("akd/model", "akd/affine"),
    "cross-id L1 relative": ("cross_identity_l1/relative", None),
    "cross-id relative / affine": ("cross_identity_l1/relative", "cross_identity_l1/affine"),
    "cross-id relative / no motion": ("cross_identity_l1/relative", "cross_identity_l1/no_motion"),
    "cross-id L1 absolute": ("cross_identity_l1/absolute", None),
    "cross-id absolute / affine": ("cross_identity_l1/absolute", "cross_identity_l1/affine"),
    "cross-id AKD relative (px)": ("cross_identity_akd/relative", None),
    "cross-id AKD absolute (px)": ("cross_identity_akd/absolute", None),
}



def checkpoint_path(variant: str, seed: int = 1) -> Path:
    """``checkpoints/ablation/<variant>-seed<seed>.pth.tar``.

    Example:
        >>> checkpoint_path("zero-order", 2).name
        'zero-order-seed2.pth.tar'
    """
    return ABLATION_DIR / f"{run_name(variant, seed)}.pth.tar"


def load_variant(variant: str, seed: int = 1, device: str | None = "cpu") -> "FirstOrderModel":
    """The shipped weights of ``variant`` at ``seed``: a :class:`~fomm_nb.model.FirstOrderModel` in eval mode."""
    from .hub import get_model

    return get_model(checkpoint_path(variant, seed), device=device)


def load_results() -> dict:
    """``checkpoints/ablation/results.json``: ``runs``, ``variants`` (mean and spread), ``comparisons``, ``bundled``."""
    return json.loads((ABLATION_DIR / "results.json").read_text())


def run_name(variant: str, seed: int) -> str:
    """``<variant>-seed<seed>``, the name of a run in results.json and of its checkpoint.

    Example:
        >>> run_name("full", 1)
        'full-seed1'
    """
    return f"{variant}-seed{seed}"


def figures(report: dict[str, float]) -> dict[str, float]:
    """The :data:`FIGURES` of one ``fomm-nb evaluate`` report (metrics and ratios).

    Example:
        >>> report = {key: 2.0 for metric, divisor in FIGURES.values() for key in (metric, divisor) if key}
        >>> figures(report)["L1 / no motion"], figures(report)["AKD (px)"]
        (1.0, 2.0)
    """
    return {name: report[metric] / (report[divisor] if divisor else 1.0) for name, (metric, divisor) in FIGURES.items()}


def summarise(runs: dict[str, dict]) -> dict[str, dict]:
    """Each variant's ``mean`` and ``spread`` (max - min) over :data:`SEEDS`, per figure, from the runs' ``figures``."""
    variants = {}
    for variant in VARIANTS:
        values = [runs[run_name(variant, seed)]["figures"] for seed in SEEDS]
        variants[variant] = {
            "seeds": list(SEEDS),
            "mean": {name: sum(v[name] for v in values) / len(values) for name in FIGURES},
            "spread": {name: max(v[name] for v in values) - min(v[name] for v in values) for name in FIGURES},
        }
    return variants


def compare(variants: dict[str, dict]) -> dict[str, list[dict]]:
    """Per figure and pair of variants: the difference of the means, and whether it exceeds the seed spread.

    ``separated`` is True when the two variants' seed ranges do not overlap
    (the difference is larger than the sum of the half spreads).
    """
    names, comparisons = list(VARIANTS), {}
    for figure in FIGURES:
        rows = []
        for index, a in enumerate(names):
            for b in names[index + 1 :]:
                difference = variants[b]["mean"][figure] - variants[a]["mean"][figure]
                half_spreads = (variants[a]["spread"][figure] + variants[b]["spread"][figure]) / 2
                rows.append({"pair": f"{b} - {a}", "difference": difference, "half_spreads": half_spreads,
                             "separated": abs(difference) > half_spreads})
        comparisons[figure] = rows
    return comparisons


#: The columns of :func:`markdown_table`.
TABLE_FIGURES = ("L1 / no motion", "AKD (px)", "AKD / no motion", "cross-id relative / affine",
                 "cross-id L1 relative", "cross-id L1 absolute")


def markdown_table(results: dict) -> str:
    """The README's table: each variant's mean ± half its seed spread, and the bundled model, as Markdown."""
    lines = ["| variant | " + " | ".join(TABLE_FIGURES) + " |", "| --- |" + " --- |" * len(TABLE_FIGURES)]
    for variant, entry in results["variants"].items():
        cells = [f"{entry['mean'][name]:.3f} ± {entry['spread'][name] / 2:.3f}" for name in TABLE_FIGURES]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    bundled = results["bundled"]["figures"]
    lines.append("| bundled (13,500 steps, 1 seed) | " + " | ".join(f"{bundled[name]:.3f}" for name in TABLE_FIGURES) + " |")
    return "\n".join(lines)
