"""What the fused Winograd transforms give the whole engine: the tuned engine against itself with them unfused.

The engine is tuned as ``fomm-nb animate`` tunes it (workers, batch size,
each layer's path; cached in ``autotune.json``). Then, in interleaved rounds
in one process, it animates the same clip twice per round: as tuned, and
with every layer that was kept on a ``"-fused"`` path forced onto the same
tiling's PyTorch path (``"winograd-fused"`` -> ``"winograd"``). The ratio of
the two is what fusing the transforms is worth per frame; the frames of the
two are compared too.

    .venv/bin/python benchmarks/fused_engine.py --model vox --frames 8 --rounds 5

Not a test: it prints figures.
"""

import argparse

import numpy as np
import torch

from common import interleaved_seconds, load_benchmark_model, machine, median_ratio, synthetic_clip
from fomm_nb.autotune import tunable_layers, tune_engine
from fomm_nb.winograd import FUSED


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vox", choices=["vox", "small"])
    parser.add_argument("--frames", type=int, default=8, help="driving frames per timed call")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the median ratio is reported)")
    args = parser.parse_args(argv)
    print(machine())
    label, model = load_benchmark_model(args.model)
    source, frames = synthetic_clip(model.image_size, args.frames)
    frames = list(frames)  # animated many times
    engine, tuning = tune_engine(model, source)
    fused = {name: module for name, module in tunable_layers(engine.network).items()
             if (module.path or "").endswith(FUSED)}
    print(f"{label}: batch {engine.batch_size}, {engine.workers} worker(s); {len(fused)} layers kept fused")
    if not fused:
        print("nothing to compare: no layer was kept on a fused path here")
        return

    def animate(use_fused):
        for name, module in fused.items():
            module.path = tuning.choices[name] if use_fused else tuning.choices[name].removesuffix(FUSED)
        engine.set_source(source)
        engine.kp_driving_initial = None
        return np.stack(list(engine.stream(frames)))

    with torch.inference_mode():
        difference = np.abs(animate(True) - animate(False)).max()
        seconds = interleaved_seconds({"fused": lambda: animate(True), "unfused": lambda: animate(False)},
                                      args.rounds)
    per_frame = {name: 1e3 * float(np.median(values)) / args.frames for name, values in seconds.items()}
    print(f"per frame (median of {args.rounds} rounds of {args.frames} frames): fused {per_frame['fused']:.1f} ms, "
          f"unfused {per_frame['unfused']:.1f} ms; unfused / fused "
          f"{median_ratio(seconds['unfused'], seconds['fused']):.3f}x; largest |difference| {difference:.1e}")
    print(machine())


if __name__ == "__main__":
    main()
