"""Plant deliberate bugs in a copy of the project, one at a time, and report which ones the tests catch.

Each mutant is a triple (file, exact old text, new text) and the few test files
that should notice it. The project is copied to a temporary folder (the
committed tree, or the working tree with ``--working-tree``); for each mutant
the old text is replaced in the copy, the tests run there (the copy's
``fomm_nb`` first on ``PYTHONPATH``), and the file is put back.

The verdicts: ``caught`` (a test failed), ``SURVIVED`` (every test passed: the
suite misses the bug), ``ERROR`` (the old text is not in the file, or appears
more than once, or pytest could not run the tests). The tests are first run
once on the unchanged copy; if they fail there, no verdict means anything and
the script stops. The exit status is 0 only when every mutant is caught.

A file may be a glob (``fomm_nb/media/*.py``) when the code moves between
modules: the old text must then appear exactly once in the files it matches.

Usage (CPU heavy; run it by hand, not in CI)::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/mutants.py             # every mutant
    .venv/bin/python scripts/mutants.py --list                         # names and tests
    .venv/bin/python scripts/mutants.py jacobian-order cli-ctrl-c      # some of them
    .venv/bin/python scripts/mutants.py --working-tree                 # uncommitted changes too
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    file: str  # a path or a glob, relative to the project root
    old: str
    new: str
    tests: tuple[str, ...]  # paths or globs (``tests/test_media*.py``)


PARITY = "tests/test_official_parity.py"

MUTANTS = [
    Mutant(
        "jacobian-order",
        "dense motion uses J_D^-1 J_S instead of J_S J_D^-1",
        "fomm_nb/modules/dense_motion.py",
        'kp_source["jacobian"] @ inverse_2x2(kp_driving["jacobian"])',
        'inverse_2x2(kp_driving["jacobian"]) @ kp_source["jacobian"]',
        (PARITY, "tests/test_geometry.py"),
    ),
    Mutant(
        "no-occlusion",
        "the generator does not multiply the warped features by the occlusion map",
        "fomm_nb/modules/generator.py",
        "features = features * occlusion_map",
        "features = features",
        (PARITY, "tests/test_animate.py"),
    ),
    Mutant(
        "partial-file-replaces-target",
        "an atomic write moves its partial file over the target when it fails",
        "fomm_nb/media/*.py",
        "        yield partial\n        finish(partial, path)\n    finally:\n        partial.unlink(missing_ok=True)",
        "        yield partial\n    finally:\n        if partial.exists():\n            partial.replace(path)",
        ("tests/test_media*.py", "tests/test_pipeline.py"),
    ),
    Mutant(
        "partial-video-replaces-target",
        "an aborted video writer moves its partial video over the target",
        "fomm_nb/media/*.py",
        "            self._partial.unlink(missing_ok=True)",
        "            if self._partial.exists():\n                self._partial.replace(self.path)",
        ("tests/test_media*.py", "tests/test_pipeline.py"),
    ),
    Mutant(
        "cli-ctrl-c-exits-0",
        "the command exits 0 on Ctrl-C",
        "fomm_nb/cli.py",
        "return EXIT_INTERRUPTED",
        "return 0",
        ("tests/test_cli.py",),
    ),
    Mutant(
        "relative-without-initial",
        "relative motion adds the driving keypoints, not their movement since the initial frame",
        "fomm_nb/motion.py",
        'scale * (kp_driving["value"] - kp_driving_initial["value"])',
        'scale * kp_driving["value"]',
        ("tests/test_motion.py", PARITY),
    ),
    Mutant(
        "align-corners-flipped",
        "grid_sample and interpolate run with align_corners=True",
        "fomm_nb/geometry.py",
        "GRID_SAMPLE_ALIGN_CORNERS = False",
        "GRID_SAMPLE_ALIGN_CORNERS = True",
        ("tests/test_geometry.py", PARITY),
    ),
    Mutant(
        "adapt-scale-inverted",
        "the adapted movement scale is initial driving over source",
        "fomm_nb/motion.py",
        "np.sqrt(source_area) / np.sqrt(driving_area)",
        "np.sqrt(driving_area) / np.sqrt(source_area)",
        ("tests/test_motion.py", PARITY),
    ),
    Mutant(
        "jacobian-not-inverted",
        "dense motion uses J_S J_D instead of J_S J_D^-1",
        "fomm_nb/modules/dense_motion.py",
        'kp_source["jacobian"] @ inverse_2x2(kp_driving["jacobian"])',
        'kp_source["jacobian"] @ kp_driving["jacobian"]',
        (PARITY, "tests/test_geometry.py"),
    ),
    Mutant(
        "gaussian-xy-swapped",
        "kp2gaussian reads keypoints as (y, x)",
        "fomm_nb/geometry.py",
        "- kp_value[:, :, None, None, :]",
        "- kp_value.flip(-1)[:, :, None, None, :]",
        ("tests/test_geometry.py", PARITY),
    ),
    Mutant(
        "relative-jacobian-order",
        "relative Jacobians are J_S J_D,t J_D,0^-1 instead of J_D,t J_D,0^-1 J_S",
        "fomm_nb/motion.py",
        'relative = change @ kp_source["jacobian"]',
        'relative = kp_source["jacobian"] @ change',
        ("tests/test_motion.py", PARITY),
    ),
    Mutant(
        "initial-frame-per-batch",
        "the engine takes each batch's first frame as the initial driving frame",
        "fomm_nb/animate.py",
        "if self.kp_driving_initial is None:",
        "if True:",
        ("tests/test_animate.py",),
    ),
    Mutant(
        "no-motion-from-last-frame",
        "evaluate's no-motion baseline holds the last frame, not the first",
        "fomm_nb/evaluate.py",
        "still = np.broadcast_to(source, frames.shape)",
        "still = np.broadcast_to(frames[-1], frames.shape)",
        ("tests/test_evaluate.py",),
    ),
    Mutant(
        "sigterm-exits-0",
        "the command exits 0 when terminated (SIGTERM)",
        "fomm_nb/cli.py",
        "return EXIT_TERMINATED",
        "return 0",
        ("tests/test_hardening_signals.py",),
    ),
    Mutant(
        "heatmap-difference-sign",
        "the dense motion network sees source minus driving gaussians",
        "fomm_nb/modules/dense_motion.py",
        'difference = kp2gaussian(kp_driving["value"], spatial_size, self.kp_variance) - kp2gaussian(',
        'difference = -kp2gaussian(kp_driving["value"], spatial_size, self.kp_variance) + kp2gaussian(',
        (PARITY,),
    ),
    Mutant(
        "keypoint-temperature-ignored",
        "the keypoint heatmaps' softmax ignores the temperature",
        "fomm_nb/geometry.py",
        "/ temperature, dim=2)",
        ", dim=2)",
        ("tests/test_geometry.py", PARITY),
    ),
    Mutant(
        "affine-baseline-half-pixel",
        "evaluate's affine baseline samples with align_corners=False (half a pixel off)",
        "fomm_nb/evaluate.py",
        'align_corners=True, padding_mode="border"',
        'align_corners=False, padding_mode="border"',
        ("tests/test_evaluate.py",),
    ),
    Mutant(
        "bad-input-exits-1",
        "the command exits 1 (not 2) on a bad input",
        "fomm_nb/cli.py",
        "return EXIT_USAGE",
        "return 1",
        ("tests/test_cli.py",),
    ),
    Mutant(
        "paste-back-hard-seam",
        "paste-back pastes the animated square with a hard edge (no feathered seam)",
        "fomm_nb/paste_back.py",
        "    if feather > 0:",
        "    if False:",
        ("tests/test_paste_back.py",),
    ),
    Mutant(
        "output-swallows-download-error",
        "the try-it app loads a model inside 'with output:', which swallows the failure in a kernel",
        "fomm_nb/widgets/try_it.py",
        "                self._models[name] = run_inside(self.download_log, self._get_model, name)",
        "                with self.download_log:\n                    self._models[name] = self._get_model(name)",
        ("tests/test_try_it.py",),
    ),
    Mutant(
        "generate-queue-last-first",
        "the Generate queue serves the newest ticket first",
        "fomm_nb/widgets/generate_queue.py",
        'sorted(self.folder.glob("*.ticket"))',
        'sorted(self.folder.glob("*.ticket"), reverse=True)',
        ("tests/test_try_it.py",),
    ),
    Mutant(
        "landmarks-resize-shifts",
        "read_landmarks resizes other sizes with align_corners=True (the antialiased resize shifts the picture)",
        "fomm_nb/landmarks/detector.py",
        'mode="bilinear", align_corners=False, antialias=True)',
        'mode="bilinear", align_corners=True, antialias=True)',
        ("tests/test_landmarks.py",),
    ),
    Mutant(
        "live-budget-by-the-clock",
        "the explorer decides live predictions by the clock's time, which grows with a server's load",
        "fomm_nb/widgets/explorer.py",
        "self._prediction_cpu = cost.cpu",
        "self._prediction_cpu = cost.wall",
        ("tests/test_widgets.py",),
    ),
    Mutant(
        "pacer-blind-to-unread-moves",
        "the move pacer ignores how long a move waited unread in front of the kernel",
        "fomm_nb/widgets/updates.py",
        "if self._moves > 1 or (lag is not None and 1000 * lag > self.target.wait):",
        "if self._moves > 1:",
        ("tests/test_updates.py",),
    ),
]


def copy_project(target: Path, working_tree: bool) -> None:
    """The tracked files of the committed tree (or, with ``working_tree``, the files as they are now)."""
    if working_tree:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                 cwd=ROOT, check=True, capture_output=True).stdout
        for name in filter(None, listing.decode().split("\0")):
            source = ROOT / name
            if source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    else:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)


def locate(copy: Path, mutant: Mutant) -> tuple[Path, str]:
    """The one file of the copy that holds ``mutant.old``, and its text; ``LookupError`` otherwise."""
    files = sorted(path for path in copy.glob(mutant.file) if path.is_file())
    holders = [(path, path.read_text()) for path in files]
    holders = [(path, text) for path, text in holders if mutant.old in text]
    if len(holders) != 1 or holders[0][1].count(mutant.old) != 1:
        count = sum(text.count(mutant.old) for _, text in holders)
        raise LookupError(f"the old text appears {count} times in {mutant.file} ({len(files)} files), not once")
    return holders[0]


def environment(copy: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def test_files(copy: Path, patterns) -> list[str]:
    """The test files of the copy that ``patterns`` name; ``LookupError`` for a pattern that names none."""
    files = []
    for pattern in patterns:
        found = sorted(str(path.relative_to(copy)) for path in copy.glob(pattern))
        if not found:
            raise LookupError(f"no test file matches {pattern}")
        files += found
    return files


def run_tests(copy: Path, tests) -> tuple[int, str]:
    """pytest's exit status on the test files ``tests`` (paths or globs) in the copy, and its output."""
    try:
        files = test_files(copy, tests)
    except LookupError as error:
        return -1, str(error)
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", *files]
    try:
        result = subprocess.run(command, cwd=copy, env=environment(copy), capture_output=True, text=True,
                                timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {TIMEOUT_S} s"
    return result.returncode, result.stdout + result.stderr


def first_failure(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return lines[0].split(" - ")[0].split("::", 1)[-1][:90] if lines else output.strip().splitlines()[-1][:90]


def check_imports_from(copy: Path) -> None:
    """The tests must import the copy's ``fomm_nb``, not the editable install of the project."""
    where = subprocess.run([sys.executable, "-c", "import fomm_nb; print(fomm_nb.__file__)"], cwd=copy,
                           env=environment(copy), capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"mutants: the copy imports fomm_nb from {where}, not from {copy}")


def try_mutant(copy: Path, mutant: Mutant) -> tuple[str, str]:
    """``(verdict, detail)`` for one mutant; the file is restored afterwards."""
    try:
        path, text = locate(copy, mutant)
    except LookupError as error:
        return "ERROR", str(error)
    path.write_text(text.replace(mutant.old, mutant.new))
    try:
        status, output = run_tests(copy, mutant.tests)
    finally:
        path.write_text(text)
    where = path.relative_to(copy)
    if status == 1:
        return "caught", f"{where}: {first_failure(output)}"
    if status == 0:
        return "SURVIVED", f"{where}: every test passed"
    if status == 2 and "error" in output.lower():
        return "caught", f"{where}: collection error: {first_failure(output)}"
    return "ERROR", f"{where}: pytest exit status {status}: {first_failure(output)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to try (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    parser.add_argument("--working-tree", action="store_true", help="copy the working tree, not the last commit")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {mutant.name for mutant in MUTANTS}
    if unknown:
        parser.error(f"unknown mutants: {', '.join(sorted(unknown))}")
    chosen = [mutant for mutant in MUTANTS if not args.names or mutant.name in args.names]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name:<32} {mutant.bug}\n{'':<32} {mutant.file}; {' '.join(mutant.tests)}")
        return 0

    with tempfile.TemporaryDirectory(prefix="fomm-mutants-") as folder:
        copy = Path(folder)
        copy_project(copy, args.working_tree)
        check_imports_from(copy)
        tests = sorted({test for mutant in chosen for test in mutant.tests})
        print(f"unchanged copy ({'working tree' if args.working_tree else 'HEAD'}): {' '.join(tests)}", flush=True)
        status, output = run_tests(copy, tests)
        if status != 0:
            print(output[-3000:])
            print("mutants: the tests fail on the unchanged copy; no verdict would mean anything", file=sys.stderr)
            return 2
        print(f"{'mutant':<32} {'verdict':<9} {'s':>5}  detail", flush=True)
        verdicts = []
        for mutant in chosen:
            start = time.monotonic()
            verdict, detail = try_mutant(copy, mutant)
            verdicts.append(verdict)
            print(f"{mutant.name:<32} {verdict:<9} {time.monotonic() - start:>5.0f}  {detail}", flush=True)
    caught = verdicts.count("caught")
    print(f"\n{caught} of {len(verdicts)} caught, {verdicts.count('SURVIVED')} survived, {verdicts.count('ERROR')} errors")
    return 0 if caught == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
