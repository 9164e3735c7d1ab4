"""No run writes over its inputs: every output option pointed at every input fails before any work.

Through the command (in-process ``main``: exit 2, one line, no traceback,
every file byte for byte as it was) and through the API (an OutputError).
The model is never loaded for a refused run: ``get_model`` is replaced by a
tripwire that fails the test if it is reached.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from fomm_nb import hub
from fomm_nb.cli import main
from fomm_nb.errors import OutputError
from fomm_nb.hub import get_model
from fomm_nb.media import write_image
from fomm_nb.outputs import Output, check_outputs, same_file, writable
from fomm_nb.pipeline import animate_files

from conftest import OFFICIAL, files_below

VIDEO_OUTPUTS = ("--out", "--side-by-side")


@pytest.fixture
def files(media):
    """The photo and video of ``media``, a folder of frames, and a model and config as files: every kind of input."""
    (media / "frames").mkdir()
    for index in range(3):
        write_image(media / "frames" / f"{index:03d}.png", np.full((48, 48, 3), index / 3))
    for name in ("tiny-mgif.pth.tar", "tiny-mgif.yaml"):
        (media / name).write_bytes((OFFICIAL / name).read_bytes())
    return media


@pytest.fixture
def tripwire(monkeypatch):
    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded: the check came after work started")

    monkeypatch.setattr(hub, "get_model", loaded)


def animate_args(files, **changes):
    args = {"--source": files / "face.png", "--driving": files / "talk.mp4", "--model": files / "tiny-mgif.pth.tar",
            "--config": files / "tiny-mgif.yaml", "--out": files / "result.mp4", **changes}
    return ["animate", *[str(item) for pair in args.items() for item in pair]]


def refused(argv, capsys):
    """Run ``fomm-nb argv``; assert exit 2 and one line without a traceback; return that line."""
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("fomm-nb: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err.strip()


INPUTS = {"--source": "face.png", "--driving": "talk.mp4", "--model": "tiny-mgif.pth.tar", "--config": "tiny-mgif.yaml"}


@pytest.mark.parametrize("output", [*VIDEO_OUTPUTS, "--crop-picture"])
@pytest.mark.parametrize("given", list(INPUTS))
def test_each_output_option_pointed_at_each_input_is_refused_before_any_work(files, capsys, tripwire, output, given):
    before = files_below(files)
    target = files / INPUTS[given]
    line = refused(animate_args(files, **{output: target}), capsys)
    assert line == f"fomm-nb: error: {output} {target} is the {given} file {target}: choose another output path"
    assert files_below(files) == before


@pytest.mark.parametrize("spelling", ["symlink", "hard link", "dot-dot", "relative"])
def test_the_same_file_by_another_name_is_refused(files, capsys, tripwire, spelling, monkeypatch):
    before = files_below(files)
    if spelling == "symlink":
        target = files / "link.mp4"
        target.symlink_to(files / "talk.mp4")
        before = files_below(files)
    elif spelling == "hard link":
        target = files / "same-bytes.mp4"
        os.link(files / "talk.mp4", target)
        before = files_below(files)
    elif spelling == "dot-dot":
        target = files / "frames" / ".." / "talk.mp4"
    else:
        monkeypatch.chdir(files / "frames")
        target = Path("../talk.mp4")
    line = refused(animate_args(files, **{"--out": target}), capsys)
    assert f"--out {target} is the --driving file {files / 'talk.mp4'}" in line
    assert files_below(files) == before


def test_two_outputs_that_are_one_file_are_refused(files, capsys, tripwire):
    line = refused(animate_args(files, **{"--out": files / "a.mp4", "--side-by-side": files / "a.mp4"}), capsys)
    assert line.endswith(f"--side-by-side {files / 'a.mp4'} and --out {files / 'a.mp4'} are one file: "
                         "give each output its own path")
    assert not (files / "a.mp4").exists()


def test_an_output_inside_a_folder_of_driving_frames_is_refused(files, capsys, tripwire):
    before = files_below(files)
    line = refused(animate_args(files, **{"--driving": files / "frames", "--out": files / "frames" / "r.mp4"}), capsys)
    assert "lies inside the --driving folder" in line
    assert files_below(files) == before


@pytest.mark.parametrize("case", ["a folder", "missing folder", "extension", "no extension", "unwritable"])
def test_an_output_that_cannot_be_written_is_refused_by_name(files, capsys, tripwire, case):
    path, message = {
        "a folder": (files / "frames", "is a folder; give a file name"),
        "missing folder": (files / "nowhere" / "r.mp4", f"the folder {files / 'nowhere'} does not exist"),
        "extension": (files / "r.avi", "cannot write '.avi' files; use .mp4, .webm, .gif"),
        "no extension": (files / "result", "cannot write files without an extension; use .mp4, .webm, .gif"),
        "unwritable": (unwritable(files) / "r.mp4", "is not writable"),
    }[case]
    before = files_below(files)
    line = refused(animate_args(files, **{"--out": path}), capsys)
    assert line.startswith(f"fomm-nb: error: --out {path}: ") and line.endswith(message)
    assert files_below(files) == before


def unwritable(folder):
    """A folder no file can be made in: read-only permissions, or, for root (whom they do not stop), /sys."""
    if os.geteuid() != 0:
        locked = folder / "locked"
        locked.mkdir(mode=0o500)
        return locked
    if writable("/sys"):
        pytest.skip("no folder here that root cannot write")
    return Path("/sys")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--out", "{files}/face.png"], "--out {files}/face.png: is a file, not a folder"),
        (["export", "--model", "{files}/tiny-mgif.pth.tar", "--config", "{files}/tiny-mgif.yaml", "--out", "{files}/talk.mp4"],
         "--out {files}/talk.mp4: is a file, not a folder"),
        (["evaluate", "--model", "{files}/tiny-mgif.pth.tar", "--config", "{files}/tiny-mgif.yaml",
          "--json", "{files}/tiny-mgif.yaml"], "--json {files}/tiny-mgif.yaml is the --config file"),
        (["evaluate", "--json", "{files}/report.txt"], "cannot write '.txt' files; use .json"),
        (["train", "--config", "{files}/tiny-mgif.yaml", "--data", "{files}/frames", "--out", "{files}/frames/run"],
         "--out {files}/frames/run/log.csv lies inside the --data folder {files}/frames"),
        (["train", "--config", "{files}/tiny-mgif.yaml", "--finetune", "{files}/model.pth.tar", "--out", "{files}"],
         "--out {files}/model.pth.tar is the --finetune file {files}/model.pth.tar"),
    ],
    ids=["demo-file", "export-file", "evaluate-json-is-config", "evaluate-json-extension", "train-inside-data",
         "train-overwrites-finetune"],
)
def test_folder_and_report_outputs_of_the_other_commands(files, capsys, tripwire, argv, message):
    (files / "model.pth.tar").write_bytes((OFFICIAL / "tiny-mgif.pth.tar").read_bytes())
    before = files_below(files)
    line = refused([part.format(files=files) for part in argv], capsys)
    assert message.format(files=files) in line
    assert files_below(files) == before


# The API: the same checks, as OutputError, before the source is read


@pytest.fixture(scope="module")
def model():
    return get_model("demo", device="cpu")


@pytest.mark.parametrize("option", ["output_path", "side_by_side_path", "crop_picture_path"])
@pytest.mark.parametrize("given", ["source", "driving"])
def test_animate_files_refuses_to_write_over_an_input(files, model, option, given):
    before = files_below(files)
    target = files / ("face.png" if given == "source" else "talk.mp4")
    paths = {"output_path": files / "result.mp4", option: target}
    with pytest.raises(OutputError, match=f"^{option} {target} is the {given} file {target}: choose another output path$"):
        animate_files(model, files / "face.png", files / "talk.mp4", **paths)
    assert files_below(files) == before


def test_an_existing_output_is_replaced_only_by_a_complete_result(files, model):
    (files / "result.mp4").write_bytes(b"an older result")
    result = animate_files(model, files / "face.png", files / "talk.mp4", files / "result.mp4")
    assert result.num_frames == 5 and (files / "result.mp4").read_bytes()[4:8] == b"ftyp"
    assert not [path for path in files.iterdir() if path.name.startswith(".")], "no temporary file left"


def test_same_file_and_check_outputs_on_their_own(files):
    assert same_file(files / "frames" / ".." / "talk.mp4", files / "talk.mp4")
    check_outputs([Output("--out", files / "new" / "run", files=("log.csv",))])  # a folder made on demand: fine
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_outputs([Output("--out", files / "face.png", files=("log.csv",))])


def ignores_case(folder):
    probe = folder / "Case-Probe"
    probe.write_text("")
    try:
        return (folder / "case-probe").exists()
    finally:
        probe.unlink()


def test_names_that_differ_only_in_case_are_one_file_where_the_disk_ignores_case(files, capsys, tripwire):
    if not ignores_case(files):
        pytest.skip("this disk tells case apart (Linux): TALK.mp4 is another file here")
    line = refused(animate_args(files, **{"--out": files / "TALK.MP4"}), capsys)
    assert "is the --driving file" in line
    line = refused(animate_args(files, **{"--out": files / "New.mp4", "--side-by-side": files / "new.mp4"}), capsys)
    assert "are one file" in line
