"""The ablation of issue 17: train every variant at every seed, evaluate them, and write results.json.

    .venv/bin/python scripts/ablation.py train [--jobs 2] [--again] [RUN ...]  # 5 variants x 2 seeds, --threads 1 each
    .venv/bin/python scripts/ablation.py long [--jobs 2]     # the longer-schedule check: 2 variants, 6,000 steps
    .venv/bin/python scripts/ablation.py evaluate [--jobs 2] [--force] [RUN ...]  # fomm-nb evaluate --videos 50
    .venv/bin/python scripts/ablation.py diagnose            # keypoints, Jacobians, masks: diagnostics.json
    .venv/bin/python scripts/ablation.py table               # the Markdown table of results.json

``train`` runs ``fomm-nb train --config checkpoints/ablation/<variant>.yaml
--data procedural --seed N --out runs/ablation/<variant>-seedN --threads 1``
and copies each run's ``model.pth.tar`` to
``checkpoints/ablation/<variant>-seedN.pth.tar``; its wall time goes to
``checkpoints/ablation/training.json``. A run whose folder holds a checkpoint
(one is written every 200 steps) is resumed with ``--resume``. ``--again``
trains the runs (named, or all) from scratch even where their weights are
there, and records whether the new weights are bitwise the old
(``same_weights_as_before``): a check that the documented command reproduces them.

``long`` does the same for the longer-schedule check (:data:`LONG_CHECK`):
``fomm-nb train --config checkpoints/ablation/long/<variant>.yaml ... --out
runs/ablation-long/<variant>-seed1 --threads 1 --checkpoint-every 500``,
weights to ``checkpoints/ablation/long/<variant>-seed1.pth.tar``. A run
finished outside this script by the same command is adopted: its wall time is
read from ``runs/ablation-long/started`` (seconds since the epoch, written when
it was started) to its ``model.pth.tar``.

``evaluate`` runs ``fomm-nb evaluate --model <checkpoint> --videos 50 --json
...`` on each run (and on the bundled model, the longer runs, and one small
run that the tests reproduce) and writes ``checkpoints/ablation/results.json``:
every run's metrics, each variant's mean and spread over seeds, which variant
differences are larger than the seed spread, and whether the longer check
keeps the order. A run already in results.json, evaluated with the same
landmark detector (its SHA-256), is kept unless named or ``--force`` is given.
Run names: ``<variant>-seedN``, ``long/<variant>-seed1``, ``bundled``, ``small``.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fomm_nb.ablation import (
    ABLATION_DIR,
    LONG_CHECK,
    SEEDS,
    VARIANTS,
    compare,
    figures,
    long_checkpoint_path,
    markdown_table,
    ordering_check,
    ruler_shares,
    run_name,
    summarise,
    weights_digest,
)

ROOT = Path(__file__).resolve().parents[1]
HERE = ABLATION_DIR
FOMM = [sys.executable, "-m", "fomm_nb.cli"]
VIDEOS, FRAMES = 50, 32
#: The run the tests evaluate again (a few short videos), and how.
SMALL_RUN = {"run": "zero-order-seed1", "videos": 3, "frames": 8}
LONG_RUNS = "runs/ablation-long"


def train_command(variant, seed):
    return ["fomm-nb", "train", "--config", f"checkpoints/ablation/{variant}.yaml", "--data", "procedural",
            "--seed", str(seed), "--out", f"runs/ablation/{run_name(variant, seed)}", "--threads", "1"]


def long_train_command(variant, seed=LONG_CHECK["seed"]):
    return ["fomm-nb", "train", "--config", f"checkpoints/ablation/long/{variant}.yaml", "--data", "procedural",
            "--seed", str(seed), "--out", f"{LONG_RUNS}/{run_name(variant, seed)}", "--threads", "1",
            "--checkpoint-every", "500"]


def evaluate_command(model, videos=VIDEOS, frames=FRAMES):
    return ["fomm-nb", "evaluate", "--model", model, "--videos", str(videos), "--frames", str(frames)]


def _call(command, threads):
    """Run a ``fomm-nb`` command line from the repository root; ``(seconds, stdout)``."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(FOMM + command[1:], cwd=ROOT, env=environment, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start, done.stdout


def _logged_steps(out):
    """The last step in ``out``/log.csv (0 without one): model.pth.tar is rewritten at every checkpoint, so only
    the log tells a finished run from one under way."""
    log = out / "log.csv"
    rows = log.read_text().strip().splitlines() if log.exists() else []
    return int(rows[-1].split(",")[0]) if len(rows) > 1 else 0


def _training_record(command, seconds, resumed):
    """training.json's entry for a finished run: command, seed, wall time, steps per second from its log, the
    digest of the weights it wrote."""
    out = ROOT / command[command.index("--out") + 1]
    rows = (out / "log.csv").read_text().strip().splitlines()
    step, training_seconds = (float(value) for value in rows[-1].split(",")[:2])
    return {"command": " ".join(command), "seed": int(command[command.index("--seed") + 1]),
            "wall_time_s": round(seconds, 1), "training_seconds_in_log": training_seconds,
            "steps_per_second": round(step / training_seconds, 2), "resumed": resumed,
            "load_average_at_end": round(os.getloadavg()[0], 1), "log": _keep_log(out),
            "weights_sha256": weights_digest(out / "model.pth.tar")}


def _keep_log(out):
    """Copy a run's log.csv beside the weights (runs/ is not in git): checkpoints/ablation/logs/<run>.csv."""
    kept = HERE / "logs" / f"{'long-' if out.parent.name == 'ablation-long' else ''}{out.name}.csv"
    kept.parent.mkdir(exist_ok=True)
    shutil.copy(out / "log.csv", kept)
    return str(kept.relative_to(ROOT))


def _train_runs(todo, jobs, record_key):
    """Train each ``(command, target checkpoint)`` of ``todo``, ``jobs`` at a time; wall times into training.json."""
    record_path = HERE / "training.json"

    def one(command, target):
        out = ROOT / command[command.index("--out") + 1]
        before = weights_digest(target) if target.exists() else None
        if before:
            shutil.rmtree(out, ignore_errors=True)  # trained again from scratch, not resumed
        resumed = (out / "checkpoint.pth.tar").exists()
        seconds, _ = _call(command + (["--resume"] if resumed else []), threads=1)
        shutil.copy(out / "model.pth.tar", target)
        entry = _training_record(command, seconds, resumed)
        if before:
            entry["same_weights_as_before"] = entry["weights_sha256"] == before
        return target, entry

    with ThreadPoolExecutor(max(jobs, 1)) as pool:
        for target, entry in pool.map(lambda item: one(*item), todo):
            record = json.loads(record_path.read_text()) if record_path.exists() else {}
            record[record_key(target)] = entry
            record_path.write_text(json.dumps(record, indent=2) + "\n")
            print(f"{target.name}: {entry['wall_time_s'] / 60:.1f} min")


def _check_names(names, runs):
    """Stop with a one-line message when ``names`` holds a run that ``runs`` does not."""
    unknown = set(names) - set(runs)
    if unknown:
        raise SystemExit(f"unknown runs {sorted(unknown)}; the runs are {', '.join(runs)}")


def train(jobs, names=(), again=False):
    """Train every run not yet in checkpoints/ablation/ (or those named), ``jobs`` at a time; record their wall times.

    With ``again`` the runs are trained from scratch even when their weights are there, and training.json
    says whether the new weights are bitwise those they replace (``same_weights_as_before``).
    """
    runs = {run_name(v, s): (v, s) for v in VARIANTS for s in SEEDS}
    _check_names(names, runs)
    todo = [(train_command(*runs[name]), HERE / f"{name}.pth.tar") for name in (names or runs)
            if again or not (HERE / f"{name}.pth.tar").exists()]
    _train_runs(todo, jobs, record_key=lambda target: target.name.removesuffix(".pth.tar"))


def long(jobs):
    """The longer-schedule check: train (or adopt) each :data:`LONG_CHECK` run not yet in checkpoints/ablation/long/."""
    seed, todo = LONG_CHECK["seed"], []
    record_path = HERE / "training.json"
    for variant in LONG_CHECK["variants"]:
        command, target = long_train_command(variant, seed), long_checkpoint_path(variant, seed)
        out = ROOT / LONG_RUNS / run_name(variant, seed)
        if target.exists():
            continue
        if _logged_steps(out) >= LONG_CHECK["steps"]:  # finished outside this script, by the same command
            started = ROOT / LONG_RUNS / "started"
            seconds = (out / "model.pth.tar").stat().st_mtime - float(started.read_text()) if started.exists() else None
            entry = _training_record(command, seconds or 0.0, resumed=False)
            if seconds is None:
                entry["wall_time_s"] = None
            entry["wall_time_from"] = f"{LONG_RUNS}/started to the mtime of its model.pth.tar"
            shutil.copy(out / "model.pth.tar", target)
            record = json.loads(record_path.read_text()) if record_path.exists() else {}
            record[f"long/{run_name(variant, seed)}"] = entry
            record_path.write_text(json.dumps(record, indent=2) + "\n")
            print(f"{target.name}: adopted, {entry['wall_time_s']} s")
            continue
        if _running(ROOT / LONG_RUNS / f"{run_name(variant, seed)}.pid"):
            print(f"{run_name(variant, seed)}: under way (step {_logged_steps(out)}), not started again")
            continue
        todo.append((command, target))
    _train_runs(todo, jobs, record_key=lambda target: f"long/{target.name.removesuffix('.pth.tar')}")


def _running(pid_file):
    """Whether the process whose id ``pid_file`` holds is alive (a run started by hand writes one)."""
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def _metrics(model, videos, frames, threads):
    """``fomm-nb evaluate`` on ``model``: its JSON report, read back from a temporary file, and its seconds."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "report.json"
        seconds, _ = _call(evaluate_command(model, videos, frames) + ["--json", str(target)], threads)
        return {**json.loads(target.read_text()), "evaluate_seconds": round(seconds, 1)}


def _detector_fingerprint():
    """The SHA-256 of the shipped landmark detector and its card's held-out errors: what AKD was read with."""
    from fomm_nb.landmarks import DETECTOR_PATH, load_landmark_detector

    errors = {k.split("/", 1)[1]: v for k, v in load_landmark_detector().card.items() if k.startswith("held_out_error_px/")}
    return hashlib.sha256(DETECTOR_PATH.read_bytes()).hexdigest(), errors


def _tasks():
    """Every evaluation of results.json: run name -> (checkpoint, videos, frames)."""
    tasks = {run_name(v, s): (f"checkpoints/ablation/{run_name(v, s)}.pth.tar", VIDEOS, FRAMES) for v in VARIANTS for s in SEEDS}
    for variant in LONG_CHECK["variants"]:
        name = run_name(variant, LONG_CHECK["seed"])
        tasks[f"long/{name}"] = (str(long_checkpoint_path(variant, LONG_CHECK["seed"]).relative_to(ROOT)), VIDEOS, FRAMES)
    tasks["bundled"] = ("checkpoints/fomm-nb-faces.pth.tar", VIDEOS, FRAMES)
    tasks["small"] = (f"checkpoints/ablation/{SMALL_RUN['run']}.pth.tar", SMALL_RUN["videos"], SMALL_RUN["frames"])
    return tasks


def _stored_reports(previous, fingerprint):
    """The reports of results.json ``previous`` that were read with the detector ``fingerprint``: name -> report."""
    sha, errors = fingerprint
    protocol = previous.get("protocol", {})
    if protocol.get("detector_sha256", sha) != sha or protocol.get("detector_held_out_error_px") != errors:
        return {}
    stored = {name: run["metrics"] for name, run in previous.get("runs", {}).items()}
    stored.update({f"long/{name}": run["metrics"] for name, run in previous.get("long_check", {}).get("runs", {}).items()})
    if "bundled" in previous:
        stored["bundled"] = previous["bundled"]["metrics"]
    if "small_run" in previous:
        small = previous["small_run"]
        stored["small"] = {**small["metrics"], **({"evaluate_seconds": small["evaluate_seconds"]}
                                                  if "evaluate_seconds" in small else {})}
    return stored


def _run_entry(name, checkpoint, report, training, command):
    variant, seed = name.split("/")[-1].rsplit("-seed", 1)
    trained = training.get(name, {})
    return {"variant": variant, "seed": int(seed), "checkpoint": checkpoint, "train_command": " ".join(command),
            "evaluate_command": " ".join(evaluate_command(checkpoint)), "wall_time_s": trained.get("wall_time_s"),
            **{key: trained[key] for key in ("steps_per_second", "log", "weights_sha256", "same_weights_as_before")
               if key in trained},
            "metrics": report, "figures": figures(report)}


def evaluate(jobs, names=(), force=False):
    """Evaluate the runs ``names`` (default: those not in results.json with this detector; all with ``force``)."""
    training = json.loads((HERE / "training.json").read_text()) if (HERE / "training.json").exists() else {}
    previous = json.loads((HERE / "results.json").read_text()) if (HERE / "results.json").exists() else {}
    fingerprint = _detector_fingerprint()
    tasks = _tasks()
    _check_names(names, tasks)
    reports = {} if force else {k: v for k, v in _stored_reports(previous, fingerprint).items() if k not in names}
    missing = [name for name in tasks if name not in reports and (ROOT / tasks[name][0]).exists()]
    print(f"evaluating {len(missing)} runs: {', '.join(missing)}; kept from results.json: {len(reports)}", flush=True)
    threads = 1 if jobs > 1 else 2
    with ThreadPoolExecutor(max(jobs, 1)) as pool:
        for name, report in zip(missing, pool.map(lambda name: _metrics(*tasks[name], threads), missing)):
            reports[name] = report
            print(f"{name}: {report['evaluate_seconds'] / 60:.1f} min", flush=True)

    runs = {name: _run_entry(name, tasks[name][0], reports[name], training,
                             train_command(*name.rsplit("-seed", 1)[:1], int(name.rsplit("-seed", 1)[1])))
            for name in tasks if "/" not in name and name not in ("bundled", "small") and name in reports}
    variants = summarise(runs)
    seconds = [report["evaluate_seconds"] for report in reports.values() if "evaluate_seconds" in report]
    results = {
        "protocol": {"videos": VIDEOS, "frames": FRAMES, "data": "test split of the procedural faces, seed 0",
                     "akd_reader": "fomm_nb.landmarks (checkpoints/landmarks.pth.tar), independent of every model",
                     "detector_sha256": fingerprint[0], "detector_held_out_error_px": fingerprint[1],
                     "spread": "max - min over the seeds",
                     "evaluate_seconds": "per run, in its metrics: one fomm-nb evaluate process, one thread, "
                                         f"{jobs} at a time on the shared 2-core machine",
                     "evaluation_minutes": round(sum(seconds) / 60, 1) if seconds else None,
                     "evaluation_minutes_of": f"the {len(seconds)} runs timed"},
        "runs": runs,
        "variants": variants,
        "comparisons": compare(variants),
        "bundled": {"checkpoint": tasks["bundled"][0], "metrics": reports["bundled"], "figures": figures(reports["bundled"])},
        "small_run": {**SMALL_RUN, "checkpoint": tasks["small"][0],
                      "evaluate_command": " ".join(evaluate_command(*tasks["small"])),
                      "metrics": {k: v for k, v in reports["small"].items() if k != "evaluate_seconds"},  # as evaluate says
                      **({"evaluate_seconds": reports["small"]["evaluate_seconds"]}
                         if "evaluate_seconds" in reports["small"] else {})},
    }
    long_names = [f"long/{run_name(v, LONG_CHECK['seed'])}" for v in LONG_CHECK["variants"]]
    long_runs = {name.split("/")[1]: _run_entry(name, tasks[name][0], reports[name], training,
                                                long_train_command(name.split("/")[1].rsplit("-seed", 1)[0]))
                 for name in long_names if name in reports}
    if long_runs:  # kept as they come, so that one finished run need not be evaluated again
        results["long_check"] = {**LONG_CHECK, "runs": long_runs}
        if len(long_runs) == len(long_names):
            results["long_check"]["ordering"] = ordering_check(runs, variants, long_runs)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))


def diagnose(videos=10, frames=32, detector_path=None):
    """What the variants' keypoints, Jacobians, masks and occlusion look like on held-out videos; and where each fails.

    Per run: keypoint spread (mean distance between keypoints, pixels), the smallest distance between two
    keypoints, how far the Jacobians are from a rotation-free identity (mean |J - I|), the masks' mean
    largest weight (1: each pixel follows one keypoint), the occlusion map's mean, and the reconstruction
    L1 on the frames whose pose differs most from the first (the quarter with the largest head turn,
    rotation and mouth change) against the rest; and how blurred the generated frames are: the gaussian
    sigma (pixels) whose blur of the real frames comes closest (L1) to them, the blur the landmark
    detector's card measures it under; and the detector's own error on the real frames blurred by that
    sigma (``detector_error_at_blur_px``): the part of the run's AKD that comes from the ruler reading a
    blurred face, not from the face being in the wrong place. The L1 match reads a misplaced face as
    blur too, so it is an upper estimate; ``sharpness_blur_px`` is the sigma whose blur of the real
    frames leaves them as sharp (mean squared gradient) as the generated ones, a lower estimate (a
    generated frame's artefacts count as sharpness), with the detector's error there beside it.
    ``fine_residual``: the standard deviation of what is left of a generated frame once the blurred real
    frame (the L1 match) is taken away and the rest blurred by 2 px is taken away too, over the pixels
    where the real frame is flat (no edge for a misplaced face to leave behind): the generated frames'
    pixel noise, the ``noise`` of :mod:`fomm_nb.landmarks.floor`'s floor (``benchmarks/landmark_floor.py``). Each
    AKD difference's share of detector error (:func:`fomm_nb.ablation.ruler_shares`) goes in too. With
    ``detector_path`` (another detector checkpoint) the errors are measured with it and nothing is written.
    """
    import numpy as np
    import torch

    from fomm_nb.animate import AnimationEngine
    from fomm_nb.data.procedural import make_video, split_seed
    from fomm_nb.hub import get_model
    from fomm_nb.landmarks import gaussian_blur, load_landmark_detector, read_landmarks
    from fomm_nb.motion import MotionOptions

    sigmas = np.arange(0.0, 3.01, 0.125)

    detector = load_landmark_detector(detector_path) if detector_path else load_landmark_detector()

    def sharpness(images):
        """Mean squared difference between neighbouring pixels of ``(T, H, W, 3)`` images."""
        return (np.diff(images, axis=1) ** 2).mean() + (np.diff(images, axis=2) ** 2).mean()

    def equivalent_blurs(generated, real):
        """``[(sigma, the real frames blurred by sigma)]`` matched by L1, then by sharpness."""
        real = torch.from_numpy(real).permute(0, 3, 1, 2)
        blurred = [gaussian_blur(real, torch.full((len(real),), s)).permute(0, 2, 3, 1).numpy() for s in sigmas]
        by_l1 = int(np.argmin([np.abs(image - generated).mean() for image in blurred]))
        target = sharpness(generated)
        by_sharpness = int(np.argmin([abs(sharpness(image) - target) for image in blurred]))
        return [(float(sigmas[best]), blurred[best]) for best in (by_l1, by_sharpness)]

    def fine_residual(generated, blurred):
        """The standard deviation of ``generated - blurred``, less its own 2 px blur, where ``blurred`` is flat."""
        residual = torch.from_numpy(generated - blurred).permute(0, 3, 1, 2)
        fine = (residual - gaussian_blur(residual, torch.full((len(residual),), 2.0))).permute(0, 2, 3, 1).numpy()
        steps = np.abs(blurred[:, 2:, 1:-1] - blurred[:, :-2, 1:-1]) + np.abs(blurred[:, 1:-1, 2:] - blurred[:, 1:-1, :-2])
        flat = np.zeros(blurred.shape[:3], bool)
        flat[:, 2:-2, 2:-2] = steps.sum(-1)[:, 1:-1, 1:-1] < 0.02  # two pixels from the border, no edge nearby
        return float(fine[flat].std())

    def detector_error(images, truth):
        """The detector's mean landmark error in pixels on ``images``."""
        return np.linalg.norm(read_landmarks(detector, images) - truth, axis=-1).mean()

    clips = [make_video(split_seed("test", index), frames) for index in range(videos)]
    models = {run_name(v, s): HERE / f"{run_name(v, s)}.pth.tar" for v in VARIANTS for s in SEEDS}
    models.update({f"long/{run_name(v, LONG_CHECK['seed'])}": long_checkpoint_path(v, LONG_CHECK["seed"])
                   for v in LONG_CHECK["variants"]})
    models["bundled"] = ROOT / "checkpoints" / "fomm-nb-faces.pth.tar"
    rows = {}
    for name, checkpoint in models.items():
        if not checkpoint.exists():
            continue
        engine = AnimationEngine(get_model(checkpoint))
        engine.options = MotionOptions(relative=0.0)
        spread, closest, jacobian, mask_peak, occlusion, hard, easy = [], [], [], [], [], [], []
        blur, ruler, sharp_blur, sharp_ruler, residual = [], [], [], [], []
        for clip in clips:
            kp = engine.detect(clip.frames)
            points = (kp["value"].numpy() + 1) / 2 * 63  # (T, K, 2) pixels
            distances = np.linalg.norm(points[:, :, None] - points[:, None], axis=-1)  # (T, K, K)
            upper = distances[:, *np.triu_indices(points.shape[1], 1)]
            spread.append(upper.mean())
            closest.append(upper.min(axis=1).mean())
            if "jacobian" in kp:
                jacobian.append(float((kp["jacobian"] - torch.eye(2)).abs().mean()))
            engine.set_source(clip.frames[0])
            engine.set_initial_driving(clip.frames[0])
            kp_norm = engine.transfer(kp)
            motion = engine.dense_motion(kp_norm)
            mask_peak.append(float(motion.mask.max(dim=1).values.mean()))
            if motion.occlusion_map is not None:
                occlusion.append(float(motion.occlusion_map.mean()))
            predicted = engine.animate_keypoints(kp_norm, return_intermediates=False).permute(0, 2, 3, 1).numpy()
            first = clip.poses[0]
            change = np.array([abs(p.yaw - first.yaw) + abs(p.angle - first.angle) + abs(p.mouth - first.mouth)
                               for p in clip.poses])
            errors = np.abs(predicted - clip.frames).mean(axis=(1, 2, 3))
            (sigma, blurred), (sharp_sigma, sharp_blurred) = equivalent_blurs(predicted, clip.frames)
            blur.append(sigma)
            ruler.append(detector_error(blurred, clip.landmarks))
            residual.append(fine_residual(predicted, blurred))
            sharp_blur.append(sharp_sigma)
            sharp_ruler.append(detector_error(sharp_blurred, clip.landmarks))
            cut = np.quantile(change, 0.75)
            hard.append(errors[change >= cut].mean())
            easy.append(errors[change < cut].mean())
        mean = lambda values: float(np.mean(values)) if values else None
        rows[name] = {
            "keypoint_spread_px": mean(spread), "closest_keypoints_px": mean(closest),
            "jacobian_minus_identity": mean(jacobian), "mask_peak": mean(mask_peak),
            "occlusion_mean": mean(occlusion), "l1_large_pose_change": mean(hard), "l1_small_pose_change": mean(easy),
            "equivalent_blur_px": mean(blur), "detector_error_at_blur_px": mean(ruler),
            "sharpness_blur_px": mean(sharp_blur), "detector_error_at_sharpness_blur_px": mean(sharp_ruler),
            "fine_residual": mean(residual)}
        print(name, {k: None if v is None else round(v, 4) for k, v in rows[name].items()}, flush=True)
    shares = ruler_shares(json.loads((HERE / "results.json").read_text())["comparisons"]["AKD (px)"], rows)
    for row in shares:
        print(f"{row['pair']}: AKD {row['difference']:+.3f} px, the detector's share {row['share']:+.3f}, "
              f"without it {row['without_share']:+.3f} (half spreads {row['half_spreads']:.3f})")
    if detector_path is None:
        (HERE / "diagnostics.json").write_text(json.dumps({"videos": videos, "frames": frames, "runs": rows,
                                                           "ruler_shares": shares}, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["train", "long", "evaluate", "diagnose", "table"])
    parser.add_argument("runs", nargs="*", help="train, evaluate: these runs only (e.g. no-pyramid-seed1; evaluate also "
                                                "long/zero-order-seed1 bundled small); evaluate keeps the others from "
                                                "results.json")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each when more than one)")
    parser.add_argument("--force", action="store_true", help="evaluate: every run again, none kept from results.json")
    parser.add_argument("--again", action="store_true", help="train: from scratch even where the weights are there, "
                                                             "and say whether they came out bitwise the same")
    parser.add_argument("--detector", help="diagnose: measure the ruler's error with this detector checkpoint instead "
                                           "(nothing written)")
    args = parser.parse_intermixed_args()
    if args.runs and args.step not in ("train", "evaluate"):
        parser.error("run names are for train and evaluate only")
    if args.step == "train":
        train(args.jobs, args.runs, args.again)
    elif args.step == "long":
        long(args.jobs)
    elif args.step == "evaluate":
        evaluate(args.jobs, args.runs, args.force)
    elif args.step == "diagnose":
        diagnose(detector_path=args.detector)
    else:
        print(markdown_table(json.loads((HERE / "results.json").read_text())))


if __name__ == "__main__":
    main()
