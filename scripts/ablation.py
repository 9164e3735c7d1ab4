"""The ablation of issue 17: train every variant at every seed, evaluate them, and write results.json.

    .venv/bin/python scripts/ablation.py train [--jobs 2]   # 4 variants x 2 seeds, fomm-nb train --threads 1 each
    .venv/bin/python scripts/ablation.py evaluate [--jobs 2] # fomm-nb evaluate --videos 50 on every checkpoint
    .venv/bin/python scripts/ablation.py diagnose            # keypoints, Jacobians, masks: diagnostics.json
    .venv/bin/python scripts/ablation.py table               # the Markdown table of results.json

``train`` runs ``fomm-nb train --config checkpoints/ablation/<variant>.yaml
--data procedural --seed N --out runs/ablation/<variant>-seedN --threads 1``
and copies each run's ``model.pth.tar`` to
``checkpoints/ablation/<variant>-seedN.pth.tar``; its wall time goes to
``checkpoints/ablation/training.json``. ``evaluate`` runs ``fomm-nb evaluate
--model checkpoints/ablation/<variant>-seedN.pth.tar --videos 50 --json ...``
on each (and on the bundled model, and one small run that the tests
reproduce) and writes ``checkpoints/ablation/results.json``: every run's
metrics, each variant's mean and spread over seeds, and which variant
differences are larger than the seed spread.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fomm_nb.ablation import ABLATION_DIR, SEEDS, VARIANTS, compare, figures, markdown_table, run_name, summarise

ROOT = Path(__file__).resolve().parents[1]
HERE = ABLATION_DIR
FOMM = [sys.executable, "-m", "fomm_nb.cli"]
VIDEOS, FRAMES = 50, 32
#: The run the tests evaluate again (a few short videos), and how.
SMALL_RUN = {"run": "zero-order-seed1", "videos": 3, "frames": 8}
#: Without training.json (the runs of 2026-12-05 were trained by an earlier session whose logs were lost).
WALL_TIME_NOTE = ("not recorded in the checkpoint; the earlier session measured about 1.7 s per step on one core "
                  "under load (two runs at a time on the 2-core machine), about 57 min per 2,000-step run")

def train_command(variant, seed):
    return ["fomm-nb", "train", "--config", f"checkpoints/ablation/{variant}.yaml", "--data", "procedural",
            "--seed", str(seed), "--out", f"runs/ablation/{run_name(variant, seed)}", "--threads", "1"]


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


def train(jobs):
    """Train every run not yet in checkpoints/ablation/, ``jobs`` at a time, and record their wall times."""
    record_path = HERE / "training.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    todo = [(v, s) for v in VARIANTS for s in SEEDS if not (HERE / f"{run_name(v, s)}.pth.tar").exists()]

    def one(variant, seed):
        command = train_command(variant, seed)
        seconds, _ = _call(command, threads=1)
        shutil.copy(ROOT / command[-3] / "model.pth.tar", HERE / f"{run_name(variant, seed)}.pth.tar")
        return run_name(variant, seed), {"command": " ".join(command), "seed": seed, "wall_time_s": round(seconds, 1),
                                         "log": f"{command[-3]}/log.csv"}

    with ThreadPoolExecutor(jobs) as pool:
        for name, entry in pool.map(lambda item: one(*item), todo):
            record[name] = entry
            record_path.write_text(json.dumps(record, indent=2) + "\n")
            print(f"{name}: {entry['wall_time_s'] / 60:.1f} min")


def _metrics(model, videos, frames, threads):
    """``fomm-nb evaluate`` on ``model``: its JSON report, read back from a temporary file."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "report.json"
        _call(evaluate_command(model, videos, frames) + ["--json", str(target)], threads)
        return json.loads(target.read_text())


def evaluate(jobs):
    training = json.loads((HERE / "training.json").read_text()) if (HERE / "training.json").exists() else {}
    names = [run_name(v, s) for v in VARIANTS for s in SEEDS]
    models = [f"checkpoints/ablation/{name}.pth.tar" for name in names]
    small_model = f"checkpoints/ablation/{SMALL_RUN['run']}.pth.tar"
    tasks = [(model, VIDEOS, FRAMES) for model in models + ["checkpoints/fomm-nb-faces.pth.tar"]]
    tasks.append((small_model, SMALL_RUN["videos"], SMALL_RUN["frames"]))
    threads = 1 if jobs > 1 else 2
    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        reports = list(pool.map(lambda task: _metrics(*task, threads), tasks))
    runs = {}
    for name, model, report in zip(names, models, reports):
        variant, seed = name.rsplit("-seed", 1)
        trained = training.get(name, {})
        runs[name] = {"variant": variant, "seed": int(seed), "checkpoint": model,
                      "train_command": " ".join(train_command(variant, int(seed))),
                      "evaluate_command": " ".join(evaluate_command(model)),
                      "wall_time_s": trained.get("wall_time_s"),
                      **({} if trained else {"wall_time_note": WALL_TIME_NOTE}),
                      "metrics": report, "figures": figures(report)}
    variants = summarise(runs)
    from fomm_nb.landmarks import load_landmark_detector

    results = {
        "protocol": {"videos": VIDEOS, "frames": FRAMES, "data": "test split of the procedural faces, seed 0",
                     "akd_reader": "fomm_nb.landmarks (checkpoints/landmarks.pth.tar), independent of every model",
                     "detector_held_out_error_px": {k.split("/", 1)[1]: v for k, v in load_landmark_detector().card.items()
                                                    if k.startswith("held_out_error_px/")},
                     "spread": "max - min over the seeds", "evaluation_minutes": round((time.perf_counter() - start) / 60, 1)},
        "runs": runs,
        "variants": variants,
        "comparisons": compare(variants),
        "bundled": {"checkpoint": "checkpoints/fomm-nb-faces.pth.tar", "metrics": reports[-2], "figures": figures(reports[-2])},
        "small_run": {**SMALL_RUN, "checkpoint": small_model,
                      "evaluate_command": " ".join(evaluate_command(small_model, SMALL_RUN["videos"], SMALL_RUN["frames"])),
                      "metrics": reports[-1]},
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))


def diagnose(videos=10, frames=32):
    """What the variants' keypoints, Jacobians, masks and occlusion look like on held-out videos; and where each fails.

    Per run: keypoint spread (mean distance between keypoints, pixels), the smallest distance between two
    keypoints, how far the Jacobians are from a rotation-free identity (mean |J - I|), the masks' mean
    largest weight (1: each pixel follows one keypoint), the occlusion map's mean, and the reconstruction
    L1 on the frames whose pose differs most from the first (the quarter with the largest head turn,
    rotation and mouth change) against the rest; and how blurred the generated frames are: the gaussian
    sigma (pixels) whose blur of the real frames comes closest (L1) to them, the blur the landmark
    detector's card measures it under.
    """
    import numpy as np
    import torch

    from fomm_nb.ablation import load_variant
    from fomm_nb.animate import AnimationEngine
    from fomm_nb.data.procedural import make_video, split_seed
    from fomm_nb.landmarks import degrade
    from fomm_nb.motion import MotionOptions

    sigmas = np.arange(0.0, 3.01, 0.25)

    def equivalent_blur(generated, real):
        real = torch.from_numpy(real).permute(0, 3, 1, 2)
        no_noise = torch.zeros(len(real))
        blurred = [degrade(real, torch.full((len(real),), s), no_noise).permute(0, 2, 3, 1).numpy() for s in sigmas]
        errors = [np.abs(image - generated).mean() for image in blurred]
        return float(sigmas[int(np.argmin(errors))])

    clips = [make_video(split_seed("test", index), frames) for index in range(videos)]
    rows = {}
    for variant in VARIANTS:
        for seed in SEEDS:
            engine = AnimationEngine(load_variant(variant, seed))
            engine.options = MotionOptions(relative=0.0)
            spread, closest, jacobian, mask_peak, occlusion, hard, easy, blur = [], [], [], [], [], [], [], []
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
                blur.append(equivalent_blur(predicted, clip.frames))
                cut = np.quantile(change, 0.75)
                hard.append(errors[change >= cut].mean())
                easy.append(errors[change < cut].mean())
            mean = lambda values: float(np.mean(values)) if values else None
            rows[run_name(variant, seed)] = {
                "keypoint_spread_px": mean(spread), "closest_keypoints_px": mean(closest),
                "jacobian_minus_identity": mean(jacobian), "mask_peak": mean(mask_peak),
                "occlusion_mean": mean(occlusion), "l1_large_pose_change": mean(hard), "l1_small_pose_change": mean(easy),
                "equivalent_blur_px": mean(blur)}
            print(run_name(variant, seed), {k: None if v is None else round(v, 4) for k, v in rows[run_name(variant, seed)].items()})
    (HERE / "diagnostics.json").write_text(json.dumps({"videos": videos, "frames": frames, "runs": rows}, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["train", "evaluate", "diagnose", "table"])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each when more than one)")
    args = parser.parse_args()
    if args.step == "train":
        train(args.jobs)
    elif args.step == "evaluate":
        evaluate(args.jobs)
    elif args.step == "diagnose":
        diagnose()
    else:
        print(markdown_table(json.loads((HERE / "results.json").read_text())))


if __name__ == "__main__":
    main()
