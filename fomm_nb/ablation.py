"""The ablation of issue 17: which of the paper's ideas makes the animation better, measured against ground truth.

The bundled model and four variants that each lack one of its ideas, each
trained at two seeds with one common 2,000-step schedule
(``checkpoints/ablation/<variant>.yaml``), evaluated by ``fomm-nb evaluate``
on 50 held-out procedural videos with AKD read by the independent landmark
detector. The two variants furthest apart are also trained three times longer
(:data:`LONG_CHECK`), to see whether their order holds.
``checkpoints/ablation/results.json`` holds every run and each variant's mean
and spread; ``scripts/ablation.py`` trains and evaluates them;
docs/ablation.md reads the table.

Example:
    >>> results = load_results()
    >>> sorted(results["variants"]) == sorted(VARIANTS)
    True
    >>> markdown_table(results).splitlines()[0].startswith("| variant |")
    True
"""

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import FirstOrderModel

__all__ = ["ABLATION_DIR", "VARIANTS", "SEEDS", "FIGURES", "TABLE_FIGURES", "LONG_CHECK", "ORDERING_FIGURES",
           "checkpoint_path", "long_checkpoint_path", "load_variant", "load_results", "run_name", "figures", "summarise",
           "compare", "ruler_shares", "ordering_check", "markdown_table", "weights_digest"]

#: ``checkpoints/ablation/`` beside the package: the variants' configs and weights, and results.json.
ABLATION_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "ablation"
#: What each variant removes from the full model (the bundled model's architecture and losses).
VARIANTS = {
    "full": "the bundled model: keypoints with Jacobians, equivariance on both, occlusion map",
    "zero-order": "keypoints only, no Jacobians (as in Monkey-Net): the sparse motions are translations",
    "no-occlusion": "no occlusion map: every warped feature is decoded as if visible",
    "no-jacobian-equivariance": "Jacobians learned without their equivariance loss (keypoint equivariance kept)",
    "no-pyramid": "a single-scale reconstruction loss (train_params.scales: [1]) instead of the 4-scale pyramid",
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


def weights_digest(checkpoint: str | Path) -> str:
    """The SHA-256 of every weight of a model checkpoint, in name order: equal digests, bitwise equal weights.

    Only the tensors count (not the config or anything else in the file), so
    two trainings that came out the same have the same digest.

    Example:
        >>> weights_digest(checkpoint_path("full", 1)) == weights_digest(checkpoint_path("full", 1))
        True
    """
    import torch

    state, digest = torch.load(checkpoint, map_location="cpu", weights_only=True), hashlib.sha256()
    for part in ("kp_detector", "generator"):
        for name, tensor in sorted(state[part].items()):
            digest.update(f"{part}.{name}".encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


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
    """Each variant's ``mean`` and ``spread`` (max - min) over :data:`SEEDS`, per figure, from the runs' ``figures``.

    Variants without a run at every seed are left out.
    """
    variants = {}
    for variant in VARIANTS:
        if any(run_name(variant, seed) not in runs for seed in SEEDS):
            continue
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
    names, comparisons = [name for name in VARIANTS if name in variants], {}
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


def ruler_shares(akd_comparisons: list[dict], diagnostics: dict[str, dict]) -> list[dict]:
    """How much of each AKD difference between two variants is the landmark detector's, not the faces'.

    AKD adds the detector's own error to the face's; that error grows with
    blur, and one variant's frames may be blurrier than another's. Per run,
    ``diagnostics[run]["detector_error_at_blur_px"]`` (``scripts/ablation.py
    diagnose``) is the detector's error on real frames as blurred as that run's
    generated ones. Per pair of ``akd_comparisons`` (results.json's
    ``comparisons["AKD (px)"]``, pairs ``"b - a"``): ``share``, the difference of
    the two variants' mean detector errors over :data:`SEEDS`;
    ``without_share``, the AKD difference less it; and ``separated_without_share``,
    whether that is still larger than the seed half spreads.

    Example:
        >>> comparisons = [{"pair": "zero-order - full", "difference": 0.1, "half_spreads": 0.05, "separated": True}]
        >>> errors = {"full": 0.16, "zero-order": 0.18}
        >>> diagnostics = {run_name(v, s): {"detector_error_at_blur_px": e} for v, e in errors.items() for s in SEEDS}
        >>> row = ruler_shares(comparisons, diagnostics)[0]
        >>> round(row["share"], 3), round(row["without_share"], 3), row["separated_without_share"]
        (0.02, 0.08, True)
    """
    def mean_error(variant):
        return sum(diagnostics[run_name(variant, seed)]["detector_error_at_blur_px"] for seed in SEEDS) / len(SEEDS)

    rows = []
    for comparison in akd_comparisons:
        b, a = comparison["pair"].split(" - ")
        share = mean_error(b) - mean_error(a)
        without = comparison["difference"] - share
        rows.append({"pair": comparison["pair"], "difference": comparison["difference"], "share": share,
                     "without_share": without, "half_spreads": comparison["half_spreads"],
                     "separated": comparison["separated"],
                     "separated_without_share": abs(without) > comparison["half_spreads"]})
    return rows


#: The longer-schedule check: the two variants furthest apart at 2,000 steps, trained three times longer.
LONG_CHECK = {"variants": ("zero-order", "no-jacobian-equivariance"), "seed": 1, "steps": 6000,
              "configs": "checkpoints/ablation/long/<variant>.yaml"}
#: The figures whose ordering the longer check compares.
ORDERING_FIGURES = ("L1 / no motion", "AKD (px)", "AKD / no motion", "cross-id relative / affine",
                    "cross-id L1 relative", "cross-id L1 absolute")


def long_checkpoint_path(variant: str, seed: int = 1) -> Path:
    """``checkpoints/ablation/long/<variant>-seed<seed>.pth.tar``: the longer-schedule run's weights."""
    return ABLATION_DIR / "long" / f"{run_name(variant, seed)}.pth.tar"


def ordering_check(runs: dict[str, dict], variants: dict[str, dict], long_runs: dict[str, dict]) -> dict[str, dict]:
    """Whether the two :data:`LONG_CHECK` variants keep their order from 2,000 to 6,000 steps, per figure.

    ``runs``/``variants`` are results.json's 2,000-step runs and summaries,
    ``long_runs`` the longer runs (``{"<variant>-seed1": {"figures": ...}}``).
    Per figure of :data:`ORDERING_FIGURES`: the difference ``b - a`` (lower is
    better) of the mean over seeds and of the same seed at 2,000 steps, the
    difference at 6,000, and ``same_order`` (the signs of the seed mean's and
    the longer run's differences agree).

    Example:
        >>> fig = lambda value: {"figures": {name: value for name in ORDERING_FIGURES}}
        >>> runs = {"zero-order-seed1": fig(2.0), "no-jacobian-equivariance-seed1": fig(1.0)}
        >>> variants = {"zero-order": {"mean": fig(2.0)["figures"]}, "no-jacobian-equivariance": {"mean": fig(1.5)["figures"]}}
        >>> long_runs = {"zero-order-seed1": fig(1.0), "no-jacobian-equivariance-seed1": fig(0.5)}
        >>> ordering_check(runs, variants, long_runs)["AKD (px)"]["same_order"]
        True
    """
    a, b = LONG_CHECK["variants"]
    seed = LONG_CHECK["seed"]
    checked = {}
    for figure in ORDERING_FIGURES:
        short_mean = variants[b]["mean"][figure] - variants[a]["mean"][figure]
        short_seed = runs[run_name(b, seed)]["figures"][figure] - runs[run_name(a, seed)]["figures"][figure]
        longer = long_runs[run_name(b, seed)]["figures"][figure] - long_runs[run_name(a, seed)]["figures"][figure]
        checked[figure] = {"pair": f"{b} - {a}", "difference_2000_mean": short_mean,
                           f"difference_2000_seed{seed}": short_seed, f"difference_{LONG_CHECK['steps']}_seed{seed}": longer,
                           "same_order": (short_mean > 0) == (longer > 0)}
    return checked


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
