"""How close the landmark detector reads to what any reader could: the Cramér-Rao floor against its error.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/landmark_floor.py [--videos 25]

Issue 17 asks that the detector's error on renders as blurred and noisy as
generated frames be well below the AKD differences it ranks (0.15-0.34 px
between variants apart beyond the seed spread). For frames of held-out test
videos (the first and middle frame of each), under each blur and noise, this
prints the floor of :mod:`fomm_nb.landmarks.floor` (root mean square distance,
pixels, with each face number's spread over the training videos as a prior;
the mean distance a reader with gaussian errors at that floor would make; the
floor without the prior) and the shipped detector's root mean square and mean
error on the same frames degraded that way (8 noise draws each); then, per
landmark, the floor and the detector's error at 1 px of blur and the
generated frames' noise. The noise levels are the generated frames' fine
residual (``fine_residual`` in checkpoints/ablation/diagnostics.json, the
2,000-step variants' mean) and the 0.03 of the detector's card; the blurs span
the generated frames' (0.83-1.28 px by ``scripts/ablation.py diagnose``).
"""

import argparse
import json

import numpy as np
import torch

from common import ROOT, gemm_peak, machine  # also puts the project on the path
from fomm_nb.ablation import SEEDS, VARIANTS, run_name
from fomm_nb.data.cartoon import landmarks
from fomm_nb.data.painter import render
from fomm_nb.data.procedural import LANDMARK_NAMES, split_seed, video_parameters
from fomm_nb.landmarks import degrade, load_landmark_detector, read_landmarks
from fomm_nb.landmarks.floor import blurred, face_parameters, parameter_spread, reading_floor, render_jacobians

BLURS = (0.0, 0.85, 1.0, 1.25)
DRAWS = 8
#: A gaussian error's mean distance over its root mean square: sqrt(2/pi) all along one axis, sqrt(pi)/2 round.
MEAN_OF_RMS = (float(np.sqrt(2 / np.pi)), float(np.sqrt(np.pi) / 2))


def generated_noise():
    """The 2,000-step variants' mean fine residual, from diagnostics.json."""
    runs = json.loads((ROOT / "checkpoints" / "ablation" / "diagnostics.json").read_text())["runs"]
    return float(np.mean([runs[run_name(variant, seed)]["fine_residual"] for variant in VARIANTS for seed in SEEDS]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=25, help="held-out videos, two frames each (default 25)")
    args = parser.parse_args()
    print(f"{machine()}; GEMM peak {gemm_peak():.0f} GFLOP/s")
    noises = (round(generated_noise(), 4), 0.03)
    spread = parameter_spread()
    detector = load_landmark_detector()
    faces = []
    for index in range(args.videos):
        identity, poses = video_parameters(split_seed("test", index), 32)
        faces += [(identity, poses[0]), (identity, poses[16])]
    rows = {(blur, noise): {"floor": [], "floor_prior": [], "errors": []} for blur in BLURS for noise in noises}
    for identity, pose in faces:
        image_jacobian, landmark_jacobian = render_jacobians(identity, pose)
        prior = np.array([spread[name] for name in face_parameters(identity, pose)[0]])
        frames = torch.from_numpy(render(identity, pose)).permute(2, 0, 1)[None].repeat(DRAWS, 1, 1, 1)
        truth = landmarks(identity, pose, 64)
        for blur in BLURS:
            soft = blurred(image_jacobian, blur)
            for noise in noises:
                row = rows[blur, noise]
                row["floor"].append(reading_floor(soft, landmark_jacobian, noise))
                row["floor_prior"].append(reading_floor(soft, landmark_jacobian, noise, prior))
                noisy = degrade(frames, torch.full((DRAWS,), blur), torch.full((DRAWS,), noise),
                                torch.Generator().manual_seed(len(row["errors"])))
                found = read_landmarks(detector, noisy.permute(0, 2, 3, 1).numpy())
                row["errors"].append(np.linalg.norm(found - truth, axis=-1))
    rms = lambda values: float(np.sqrt((np.concatenate(values, axis=None) ** 2).mean()))
    print(f"{len(faces)} held-out frames; noise {noises[0]} is the generated frames' fine residual, 0.03 the card's")
    print("| blur (px) | noise | floor (rms px) | floor as a mean distance (px) | floor without the prior (rms px) "
          "| detector (rms px) | detector (mean px) | detector / floor (rms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (blur, noise), row in rows.items():
        floor, floor_prior, error = rms(row["floor"]), rms(row["floor_prior"]), rms(row["errors"])
        typical = float(np.mean(np.concatenate(row["floor_prior"])))  # a gaussian reader's mean distance: 0.80-0.89x
        mean_error = float(np.mean(np.concatenate(row["errors"], axis=None)))
        print(f"| {blur} | {noise} | {floor_prior:.3f} | {MEAN_OF_RMS[0] * typical:.3f}-{MEAN_OF_RMS[1] * typical:.3f} "
              f"| {floor:.3f} | {error:.3f} | {mean_error:.3f} | {error / floor_prior:.1f} |")
    row = rows[1.0, noises[0]]
    floors, errors = np.stack(row["floor_prior"]), np.concatenate(row["errors"])  # (frames, L), (frames * draws, L)
    print(f"\nPer landmark, blur 1 px, noise {noises[0]}: floor (rms px), detector (mean px)")
    for index, name in enumerate(LANDMARK_NAMES):
        print(f"  {name:<16} {np.sqrt((floors[:, index] ** 2).mean()):.3f}  {errors[:, index].mean():.3f}")


if __name__ == "__main__":
    main()
