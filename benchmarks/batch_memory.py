"""Memory per frame of a batch, animating and training: the measurement behind fomm-nb's batch-size checks.

``fomm-nb animate``/``track`` and ``fomm-nb train`` refuse a ``--batch-size``
whose frames would not fit in free memory, estimating the need as bytes per
pixel of every frame of the batch (``fomm_nb.arguments.BYTES_PER_PIXEL`` and
``TRAINING_BYTES_PER_PIXEL``). This measures those figures: for each model
and mode, one fresh process per batch size records its peak resident memory
above the loaded model while it animates a batch (engine.render) or takes
one training step (Trainer.train_step); the slope between batch sizes is the
memory one more frame costs.

    .venv/bin/python benchmarks/batch_memory.py                      # bundled-size and vox-256 models
    .venv/bin/python benchmarks/batch_memory.py --models small --sizes 2 4
"""

import argparse
import json
import sys

import torch

from common import PeakMemory, in_fresh_process, load_benchmark_model, machine, synthetic_clip
from fomm_nb.animate import AnimationEngine
from fomm_nb.arguments import BYTES_PER_PIXEL, TRAINING_BYTES_PER_PIXEL
from fomm_nb.data import ProceduralFaces
from fomm_nb.model import build_model
from fomm_nb.train.trainer import Trainer, TrainSettings


def _animate(model, batch_size):
    source, frames = synthetic_clip(model.image_size, batch_size)
    engine = AnimationEngine(model, batch_size=batch_size)
    engine.set_source(source)
    with PeakMemory() as memory:
        list(engine.stream(list(frames)))
    return memory.peak_mb


def _train(model, batch_size):
    settings = TrainSettings.from_config(model.config)
    settings.batch_size = batch_size
    model = build_model(model.config, with_discriminator=settings.uses_discriminator).train()
    trainer = Trainer(model, settings)
    pairs = [ProceduralFaces("train", size=model.image_size)[index] for index in range(batch_size)]
    batch = {key: torch.stack([torch.as_tensor(pair[key]) for pair in pairs]) for key in ("source", "driving")}
    with PeakMemory() as memory:
        trainer.train_step(batch)
    return memory.peak_mb


def measure_one(model_name, mode, batch_size):
    """Child process: peak MB above the loaded model for one batch."""
    torch.set_num_threads(1)
    _, model = load_benchmark_model(model_name)
    return {"peak_mb": (_train if mode == "train" else _animate)(model, batch_size), "size": model.image_size}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small", "vox"], choices=["small", "vox"])
    parser.add_argument("--modes", nargs="+", default=["animate", "train"], choices=["animate", "train"])
    parser.add_argument("--sizes", nargs=2, type=int, default=[1, 2], help="two batch sizes: the slope between them")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_one(args.child[0], args.child[1], int(args.child[2]))))
        return
    print(machine())
    stated = {"animate": BYTES_PER_PIXEL, "train": TRAINING_BYTES_PER_PIXEL}
    for name in args.models:
        for mode in args.modes:
            runs = [in_fresh_process(__file__, "--child", name, mode, size) for size in args.sizes]
            pixels = runs[0]["size"] ** 2
            slope = (runs[1]["peak_mb"] - runs[0]["peak_mb"]) * 2**20 / (args.sizes[1] - args.sizes[0])
            peaks = ", ".join(f"batch {size}: {run['peak_mb']:.0f} MB" for size, run in zip(args.sizes, runs))
            print(f"{name:>5} {mode:>7} {runs[0]['size']}px: {peaks}; {slope / 1e6:.0f} MB per frame = "
                  f"{slope / pixels:.0f} B/pixel (stated {stated[mode]}); batch {args.sizes[0]} alone: "
                  f"{runs[0]['peak_mb'] * 2**20 / args.sizes[0] / pixels:.0f} B/pixel")


if __name__ == "__main__":
    sys.exit(main())
