"""The apps stay on their side of the engine: no reaching into the network, one place for motion transfer."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = sorted([*(ROOT / "fomm_nb" / "widgets").glob("*.py"), ROOT / "fomm_nb" / "teaching.py",
               *(ROOT / "notebooks").glob("*.ipynb")])

#: What an app must not touch: the engine's network, the dense motion network, the detector's and generator's layers.
INSIDE_THE_MODEL = re.compile(
    r"\.network\."
    r"|dense_motion_network"
    r"|\b(kp_)?detector\.(predictor|kp|jacobian|down)\b"
    r"|\bgenerator\.(first|down_blocks|up_blocks|bottleneck|final)\b"
)

#: Calls that transfer motion: only fomm_nb/motion.py (and AnimationEngine.transfer) make them.
MOTION_TRANSFER = re.compile(r"\b(transfer_motion|normalize_kp|freeze_keypoints)\(|\.apply\(\s*(engine\.)?kp_source")


def offending_lines(path, pattern):
    return [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]


def test_the_patterns_catch_what_they_guard():
    """Planted lines, one per rule, so that a pattern that matches nothing cannot pass unnoticed."""
    for line in ('motion = engine.network.generator.animate', 'explorer.model.generator.dense_motion_network',
                 'logits = model.kp_detector.kp(features)', 'features = detector.predictor(image)',
                 'x = model.generator.bottleneck(features)'):
        assert INSIDE_THE_MODEL.search(line), line
    for line in ('kp = options.apply(engine.kp_source, kp, initial)', 'kp = normalize_kp(s, d, i)',
                 'kp = transfer_motion(s, d, i, o)'):
        assert MOTION_TRANSFER.search(line), line
    assert not INSIDE_THE_MODEL.search("tps.jacobian(kp)") and not INSIDE_THE_MODEL.search("model.kp_detector(S)")


@pytest.mark.parametrize("path", APPS, ids=lambda path: path.name)
def test_apps_do_not_reach_inside_the_model(path):
    assert offending_lines(path, INSIDE_THE_MODEL) == []


def test_motion_is_transferred_only_in_motion_py():
    """Widgets and the pipeline set ``engine.options`` and call the engine; they never transfer motion themselves."""
    library = sorted((ROOT / "fomm_nb").rglob("*.py"))
    allowed = {ROOT / "fomm_nb" / "motion.py", ROOT / "fomm_nb" / "animate.py"}
    found = [line for path in library if path not in allowed for line in offending_lines(path, MOTION_TRANSFER)]
    assert found == []


def test_evaluate_prints_no_pytorch_warning():
    """``fomm-nb evaluate`` once gave torch read-only frames (``np.broadcast_to``); torch warns once per process."""
    command = ("import sys; from fomm_nb.cli import main; "
               "sys.exit(main(['evaluate', '--videos', '1', '--frames', '2']))")
    result = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", command],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Warning" not in result.stderr
    assert "reconstruction L1 / no motion" in result.stdout
