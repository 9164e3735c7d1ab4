"""The registry, the downloader and the safe loader, against a real HTTP server on 127.0.0.1.

No network beyond loopback: Google Drive is replaced by a fake ``gdown``
module, Yandex Disk by the local server.
"""

import collections
import dataclasses
import os
import hashlib
import http.server
import io
import json
import socket
import sys
import subprocess
import threading
import time
import types
from pathlib import Path

import pytest
import torch

import fomm_nb
import fomm_nb.download as download
from fomm_nb import CheckpointError, ConfigError, DownloadError, InputError
from fomm_nb.download import cache_dir, fetch_checkpoint, local_checkpoint_path, recorded_sha256, sha256_of
from fomm_nb.outputs import writable
from fomm_nb.registry import MODELS, Source, get_model_entry
from fomm_nb.safe_load import load_checkpoint_file

PACKAGE = Path(fomm_nb.__file__).parent


def checkpoint_bytes(**options):
    buffer = io.BytesIO()
    torch.save({"generator": {"w": torch.arange(1000.0)}, "kp_detector": {"w": torch.ones(3)}}, buffer, **options)
    return buffer.getvalue()


GOOD = checkpoint_bytes()
CORRUPT = GOOD[:-100] + bytes(100)  # still starts like a checkpoint: only its sha256 tells


class Handler(http.server.BaseHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        kind = self.path.split("/")[1].split("?")[0]
        if kind == "good":
            self._send(GOOD)
        elif kind == "corrupt":
            self._send(CORRUPT)
        elif kind == "html":
            self._send(b"<!DOCTYPE html><html>Quota exceeded</html>")
        elif kind == "half":  # announces the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 2])
            self.close_connection = True
        elif kind == "trickle":  # announces the whole file, then one byte every 50 ms: never a read timeout
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            for byte in GOOD[:200]:
                time.sleep(0.05)
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:  # the client gave up
                    break
            self.close_connection = True
        elif kind == "yandex-api":
            self._send(json.dumps({"href": f"http://{self.headers['Host']}/good/from-yandex"}).encode())
        else:
            self.send_error(404)

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FOMM_NB_HOME", str(tmp_path / "cache"))
    Handler.requests.clear()
    return tmp_path / "cache"


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_server():
    """A real server on 127.0.0.1 whose kernel accepts connections, and which never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def full_server():
    """A real server on 127.0.0.1 whose queue of connections is full: a new connection is never accepted."""
    with socket.socket() as listener, socket.socket() as waiting:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        waiting.connect(listener.getsockname())  # fills the queue; the next SYNs are dropped
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


def with_entry(monkeypatch, name, **changes):
    """Pretend the registry knows more about ``name`` (a published sha256 or size)."""
    entry = dataclasses.replace(get_model_entry(name), **changes)
    monkeypatch.setattr(download, "get_model_entry", lambda asked: entry)


# The registry


def test_registry_lists_every_published_model_with_its_file_config_and_sources():
    assert list(MODELS) == ["demo", "vox", "vox-adv", "taichi", "taichi-adv", "mgif", "fashion", "bair", "nemo"]
    assert get_model_entry("taichi-adv").file_name == "taichi-adv-cpk.pth.tar"
    assert get_model_entry("fashion").file_name == "fashion.pth.tar"
    for name, entry in MODELS.items():
        if name == "demo":
            assert entry.bundled and not entry.sources and entry.config.endswith("checkpoints/fomm-nb-faces.yaml")
            continue
        assert entry.config == f"{name}-256" and not entry.bundled
        assert (PACKAGE / "configs" / f"{entry.config}.yaml").is_file()
        assert entry.sha256 is None and entry.size is None
        kinds = [source.kind for source in entry.sources]
        assert kinds[-3:] == ["gdrive-folder", "url", "yandex"], name
        assert entry.sources[-2].location.endswith(f"/releases/download/checkpoints/{entry.file_name}")


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="voxx: unknown model; did you mean vox\\? known models: demo, vox, vox-adv"):
        fetch_checkpoint("voxx")
    with pytest.raises(ConfigError, match="unknown model"):
        local_checkpoint_path("nope")


def test_a_source_of_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="ftp.*unknown"):
        Source("ftp", "ftp://example.org/vox-cpk.pth.tar")


# Downloads


def test_good_download_is_cached_recorded_and_loads(server, cache):
    assert local_checkpoint_path("vox") is None
    path = fetch_checkpoint("vox", sources=[f"{server}/good/vox-cpk.pth.tar"], progress=True)
    assert path == cache / "vox-cpk.pth.tar" == local_checkpoint_path("vox")
    assert path.read_bytes() == GOOD and files_in(cache) == ["vox-cpk.pth.tar", "vox-cpk.pth.tar.sha256"]
    assert recorded_sha256(path) == sha256_of(path)
    assert torch.equal(load_checkpoint_file(path)["kp_detector"]["w"], torch.ones(3))
    assert fetch_checkpoint("vox", sources=[], progress=False) == path  # cached: no source asked
    assert Handler.requests == ["/good/vox-cpk.pth.tar"]


def test_tampered_cache_is_refused_on_the_next_fetch(server, cache):
    path = fetch_checkpoint("vox", sources=[f"{server}/good/vox-cpk.pth.tar"], progress=False)
    path.write_bytes(CORRUPT)
    with pytest.raises(CheckpointError, match="vox-cpk.pth.tar: its sha256 differs from the one recorded") as caught:
        fetch_checkpoint("vox", sources=[f"{server}/good/vox-cpk.pth.tar"], progress=False)
    assert "delete it and run again" in str(caught.value)


def test_download_not_matching_the_published_sha256_is_rejected_and_leaves_nothing(server, cache, monkeypatch):
    with_entry(monkeypatch, "mgif", sha256=hashlib.sha256(GOOD).hexdigest())
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch_checkpoint("mgif", sources=[f"{server}/corrupt/mgif-cpk.pth.tar"], progress=False)
    assert files_in(cache) == []
    path = fetch_checkpoint("mgif", sources=[f"{server}/good/mgif-cpk.pth.tar"], progress=False)
    assert path.read_bytes() == GOOD


def test_download_of_the_wrong_size_is_rejected(server, cache, monkeypatch):
    with_entry(monkeypatch, "bair", size=len(GOOD) + 1)
    with pytest.raises(DownloadError, match=f"{len(GOOD)} bytes, expected {len(GOOD) + 1}"):
        fetch_checkpoint("bair", sources=[f"{server}/good/bair-cpk.pth.tar"], progress=False)
    assert files_in(cache) == []


def test_cut_short_download_leaves_no_partial_file_and_falls_through(server, cache):
    sources = [f"{server}/half/vox-cpk.pth.tar", f"{server}/good/vox-cpk.pth.tar"]
    assert fetch_checkpoint("vox", sources=sources, progress=False).read_bytes() == GOOD
    assert Handler.requests == ["/half/vox-cpk.pth.tar", "/good/vox-cpk.pth.tar"]
    assert files_in(cache) == ["vox-cpk.pth.tar", "vox-cpk.pth.tar.sha256"]


def test_first_mirror_fails_and_the_second_succeeds(server, cache, closed_port):
    sources = [f"http://127.0.0.1:{closed_port}/vox-cpk.pth.tar", f"{server}/missing/vox-cpk.pth.tar",
               f"{server}/html/vox-cpk.pth.tar", f"{server}/good/vox-cpk.pth.tar"]
    assert fetch_checkpoint("vox", sources=sources, progress=False, timeout=5).read_bytes() == GOOD


def test_a_file_url_works_as_a_mirror(tmp_path, cache):
    mirror = tmp_path / "mirror" / "mgif-cpk.pth.tar"
    mirror.parent.mkdir()
    mirror.write_bytes(GOOD)
    assert fetch_checkpoint("mgif", sources=mirror.as_uri(), progress=False).read_bytes() == GOOD


@pytest.mark.parametrize("kind, reason", [
    ("half", f"the connection closed after {len(GOOD) // 2} of {len(GOOD)} bytes"),
    ("missing", "HTTP 404 Not Found"),
    ("html", r"not a torch checkpoint \(starts with b'<!DOCTYPE html"),
])
def test_each_failure_is_explained_and_leaves_nothing(server, cache, kind, reason):
    with pytest.raises(DownloadError, match=reason):
        fetch_checkpoint("taichi", sources=[f"{server}/{kind}/taichi-cpk.pth.tar"], progress=False)
    assert files_in(cache) == []


def test_all_sources_failing_gives_one_line_with_the_manual_way(server, cache, closed_port):
    sources = [f"http://127.0.0.1:{closed_port}/vox-cpk.pth.tar", f"{server}/missing/vox-cpk.pth.tar"]
    with pytest.raises(DownloadError) as caught:
        fetch_checkpoint("vox", sources=sources, progress=False, timeout=5)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("vox-cpk.pth.tar: could not download it (")
    assert f"http://127.0.0.1:{closed_port}/vox-cpk.pth.tar: unreachable (" in message
    assert f"{server}/missing/vox-cpk.pth.tar: HTTP 404 Not Found" in message
    assert message.endswith(
        "Download vox-cpk.pth.tar by hand from https://drive.google.com/file/d/1_v_xW1V52gZCZnXgh1Ap_gwA9YVIzUnS/view"
        f" and put it in {cache}"
    )
    assert files_in(cache) == []


def test_an_interrupted_download_leaves_nothing(cache, monkeypatch):
    def interrupted(location, file_name, out, limits, progress):
        out.write(GOOD[:100])
        raise KeyboardInterrupt

    monkeypatch.setitem(download._FETCHERS, "url", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_checkpoint("nemo", sources=["http://example.invalid/nemo-cpk.pth.tar"], progress=False)
    assert files_in(cache) == []


def test_google_drive_sources_use_gdown_file_ids_and_folder_listing(cache, monkeypatch):
    asked = []
    listed = collections.namedtuple("Listed", "id path local_path")

    def fake_download(id, output, quiet, progress, timeout):
        asked.append(id)
        if id == "quota-id":
            raise RuntimeError("Failed to retrieve file url:\n\n\tToo many users have viewed or downloaded this file")
        output.write(GOOD)
        progress(len(GOOD), len(GOOD))

    def fake_folder(id, skip_download, quiet, timeout):
        assert id == "folder-id" and skip_download
        return [listed("other-id", "vox-cpk.pth.tar", ""), listed("taichi-id", "taichi-cpk.pth.tar", "")]

    fake_gdown = types.SimpleNamespace(download=fake_download, download_folder=fake_folder)
    monkeypatch.setitem(sys.modules, "gdown", fake_gdown)
    sources = [Source("gdrive", "quota-id"), Source("gdrive-folder", "folder-id")]
    assert fetch_checkpoint("taichi", sources=sources, progress=False).read_bytes() == GOOD
    assert asked == ["quota-id", "taichi-id"]
    with pytest.raises(DownloadError) as caught:
        fetch_checkpoint("mgif", sources=sources, progress=False)
    assert ("(Google Drive file quota-id: RuntimeError: Failed to retrieve file url: Too many users have viewed or "
            "downloaded this file; Google Drive folder: the folder has no mgif-cpk.pth.tar)") in str(caught.value)


def test_an_older_gdown_without_progress_nor_timeout_draws_its_own_bar(cache, monkeypatch):
    quiet_flags = []

    def old_download(url=None, output=None, quiet=False, id=None):
        quiet_flags.append(quiet)
        output.write(GOOD)

    def old_folder(url=None, id=None, quiet=False, skip_download=False):
        return [collections.namedtuple("Listed", "id path local_path")("bair-id", "bair-cpk.pth.tar", "")]

    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download=old_download, download_folder=old_folder))
    assert fetch_checkpoint("bair", sources=Source("gdrive-folder", "folder-id")).read_bytes() == GOOD
    assert quiet_flags == [False]


def test_yandex_disk_source_asks_the_public_api_for_the_link(server, cache, monkeypatch):
    monkeypatch.setattr(download, "YANDEX_API", f"{server}/yandex-api")
    path = fetch_checkpoint("nemo", sources=[Source("yandex", "https://yadi.sk/d/lEw8uRm140L_eQ")], progress=False)
    assert path.read_bytes() == GOOD
    assert Handler.requests[0].startswith("/yandex-api?public_key=https%3A%2F%2Fyadi.sk%2Fd%2FlEw8uRm140L_eQ")
    assert Handler.requests[0].endswith("&path=%2Fnemo-cpk.pth.tar") and Handler.requests[1] == "/good/from-yandex"


def test_file_put_in_the_cache_by_hand_is_checked_then_recorded(cache):
    cache_dir().joinpath("fashion.pth.tar").write_bytes(GOOD)
    path = fetch_checkpoint("fashion", sources=[], progress=False)
    assert recorded_sha256(path) == sha256_of(path)
    path.with_name("bair-cpk.pth.tar").write_bytes(b"<html>sign in</html>")
    with pytest.raises(CheckpointError, match="bair-cpk.pth.tar: not a torch checkpoint"):
        fetch_checkpoint("bair", sources=[], progress=False)


def test_cache_defaults_to_the_checkpoints_folder_beside_the_package(monkeypatch):
    monkeypatch.delenv("FOMM_NB_HOME", raising=False)
    assert cache_dir() == download.BUNDLED_DIR and cache_dir().name == "checkpoints"


def test_bundled_model_is_never_downloaded(tmp_path, monkeypatch):
    if local_checkpoint_path("demo") is not None:
        assert fetch_checkpoint("demo") == local_checkpoint_path("demo")
    monkeypatch.setattr(download, "BUNDLED_DIR", tmp_path)
    with pytest.raises(CheckpointError, match="fomm-nb-faces.pth.tar: the bundled model is missing"):
        fetch_checkpoint("demo")


# The safe loader


class Exploit:
    """Unpickled unsafely, it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_malicious_pickle_is_refused_without_running_it(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth.tar"
    torch.save({"generator": Exploit(marker)}, evil, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(CheckpointError, match="evil.pth.tar: refused: the file carries code") as caught:
        load_checkpoint_file(evil)
    assert not marker.exists() and "\n" not in str(caught.value)
    torch.load(evil, weights_only=False)  # the file is really malicious: the unsafe way runs its code
    assert marker.exists()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("damage, message", [
    (lambda data: b"", "the file is empty"),
    (lambda data: data[: len(data) // 2], "damaged or truncated checkpoint"),
    (lambda data: data[:1], "damaged or"),
    (lambda data: b"<html>" + data, "damaged or not a torch checkpoint"),
], ids=["zero-byte", "truncated", "one-byte", "html"])
def test_damaged_checkpoints_give_one_line_errors(tmp_path, zip_format, damage, message):
    path = tmp_path / "broken.pth.tar"
    path.write_bytes(damage(checkpoint_bytes(_use_new_zipfile_serialization=zip_format)))
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint_file(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    assert "carries code" not in str(caught.value)


def test_safe_loader_reads_both_formats_and_refuses_non_dicts(tmp_path):
    legacy = tmp_path / "legacy.pth.tar"
    legacy.write_bytes(checkpoint_bytes(_use_new_zipfile_serialization=False))
    assert torch.equal(load_checkpoint_file(legacy)["generator"]["w"], torch.arange(1000.0))
    torch.save([torch.ones(1)], tmp_path / "list.pth.tar")
    with pytest.raises(CheckpointError, match="not a checkpoint \\(it holds a list"):
        load_checkpoint_file(tmp_path / "list.pth.tar")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint_file(tmp_path / "absent.pth.tar")


# Stalls: servers that accept and never answer, never accept, or trickle


def test_a_server_that_never_answers_costs_the_read_timeout_per_source_and_one_line(silent_server, cache):
    sources = [f"{silent_server}/vox-cpk.pth.tar", f"{silent_server}/mirror/vox-cpk.pth.tar"]
    start = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch_checkpoint("vox", sources=sources, progress=False, timeout=0.5, connect_timeout=5)
    assert time.monotonic() - start < 3, "two sources of 0.5 s each: the read timeout, not the connect timeout"
    message = str(caught.value)
    assert "\n" not in message
    for source in sources:
        assert f"{source}: no answer within 0.5 s (the server accepted the connection, then sent nothing)" in message
    assert files_in(cache) == []


def test_a_server_that_never_accepts_costs_the_connect_timeout(full_server, cache):
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"vox-cpk.pth.tar: could not connect within 0.3 s"):
        fetch_checkpoint("vox", sources=f"{full_server}/vox-cpk.pth.tar", progress=False, timeout=5, connect_timeout=0.3)
    assert time.monotonic() - start < 2
    assert files_in(cache) == []


def test_a_trickling_download_stops_at_the_total_bound_and_tries_no_other_source(server, cache):
    sources = [f"{server}/trickle/vox-cpk.pth.tar", f"{server}/good/vox-cpk.pth.tar"]
    start = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch_checkpoint("vox", sources=sources, progress=False, timeout=5, total_timeout=1)
    assert time.monotonic() - start < 2.5
    assert "trickle/vox-cpk.pth.tar: stopped after 1 s, the time allowed for the download (total_timeout)" in str(caught.value)
    assert Handler.requests == ["/trickle/vox-cpk.pth.tar"], "out of time: the next source is not tried"
    assert files_in(cache) == []


def test_the_command_says_at_once_what_it_tries_then_ends_in_one_line(silent_server, tmp_path):
    """The user sees which source is tried within seconds, while it waits, and one line at the end."""
    code = ("import sys; from fomm_nb.download import fetch_checkpoint; from fomm_nb.errors import FommError\n"
            "try: fetch_checkpoint('vox', sources=sys.argv[1], timeout=4)\n"
            "except FommError as error: print(error, file=sys.stderr); sys.exit(2)")
    process = subprocess.Popen([sys.executable, "-c", code, f"{silent_server}/vox-cpk.pth.tar"], text=True,
                               stderr=subprocess.PIPE, env={**os.environ, "FOMM_NB_HOME": str(tmp_path)})
    first = process.stderr.readline()
    still_waiting = process.poll() is None
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 2
    assert first == f"downloading vox-cpk.pth.tar from {silent_server}/vox-cpk.pth.tar ...\n"
    assert still_waiting, "said before the wait, not after it"
    assert rest.count("\n") == 1 and "no answer within 4 s" in rest and "Traceback" not in rest


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"connect_timeout": -1}, {"total_timeout": float("nan")}])
def test_timeouts_are_range_checked(cache, bad):
    with pytest.raises(InputError, match=next(iter(bad))):
        fetch_checkpoint("vox", sources=[], progress=False, **bad)


# The cache folder (FOMM_NB_HOME)


def unwritable_folder(tmp_path):
    """A folder no file can be made in: read-only permissions, or (for root, whom they do not stop) /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
        return folder
    if writable(Path("/sys")):
        pytest.skip("no folder here that root cannot write")
    return Path("/sys")


def test_a_cache_that_is_a_file_is_one_line_naming_it(tmp_path, monkeypatch):
    home = tmp_path / "cache.txt"
    home.write_text("not a folder")
    monkeypatch.setenv("FOMM_NB_HOME", str(home))
    with pytest.raises(InputError, match=f"FOMM_NB_HOME={home}: is a file, not a folder"):
        fetch_checkpoint("vox", sources=[], progress=False)
    assert home.read_text() == "not a folder"


def test_an_unwritable_cache_is_refused_before_downloading_without_advising_to_put_the_file_there(
    tmp_path, monkeypatch, server
):
    home = unwritable_folder(tmp_path)
    monkeypatch.setenv("FOMM_NB_HOME", str(home))
    Handler.requests.clear()
    with pytest.raises(InputError) as caught:
        fetch_checkpoint("vox", sources=f"{server}/good/vox-cpk.pth.tar", progress=False)
    message = str(caught.value)
    assert message.startswith(f"FOMM_NB_HOME={home}: the folder is not writable") and "put it in" not in message
    assert "set FOMM_NB_HOME to a folder you can write" in message and Handler.requests == []


def test_a_cache_that_cannot_be_created_is_one_line(tmp_path, monkeypatch):
    home = unwritable_folder(tmp_path) / "cache"
    monkeypatch.setenv("FOMM_NB_HOME", str(home))
    with pytest.raises(InputError, match=f"FOMM_NB_HOME={home}: cannot create it"):
        fetch_checkpoint("vox", sources=[], progress=False)


def test_a_checkpoint_in_a_read_only_cache_is_used(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions")
    home = tmp_path / "shared"
    home.mkdir()
    (home / "mgif-cpk.pth.tar").write_bytes(GOOD)
    home.chmod(0o500)
    monkeypatch.setenv("FOMM_NB_HOME", str(home))
    try:
        assert fetch_checkpoint("mgif", sources=[], progress=False) == home / "mgif-cpk.pth.tar"
    finally:
        home.chmod(0o700)
