"""Downloads from a real HTTP server on 127.0.0.1: good, corrupted, cut-short and missing files, mirrors."""

import http.server
import io
import json
import threading

import pytest
import torch

from fomm_nb import CheckpointError, ConfigError, DownloadError
from fomm_nb.download import fetch_checkpoint, local_checkpoint_path
from fomm_nb.registry import get_model_entry
from fomm_nb.safe_load import load_checkpoint_file


def checkpoint_bytes():
    buffer = io.BytesIO()
    torch.save({"generator": {"w": torch.arange(1000.0)}, "kp_detector": {"w": torch.ones(3)}}, buffer)
    return buffer.getvalue()


GOOD = checkpoint_bytes()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/good/"):
            self._send(GOOD)
        elif self.path.startswith("/html/"):
            self._send(b"<html>quota exceeded</html>")
        elif self.path.startswith("/half/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 2])
            self.wfile.flush()
            self.close_connection = True
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
    monkeypatch.setenv("FOMM_NB_HOME", str(tmp_path))
    return tmp_path


def test_good_download_is_cached_recorded_and_loads(server, cache):
    path = fetch_checkpoint("vox", sources=[f"{server}/good/vox-cpk.pth.tar"], progress=False)
    assert path == cache / "vox-cpk.pth.tar" and path.read_bytes() == GOOD
    assert json.loads((cache / "sha256.json").read_text())["vox-cpk.pth.tar"]
    assert torch.equal(load_checkpoint_file(path)["kp_detector"]["w"], torch.ones(3))
    assert local_checkpoint_path("vox") == path
    assert fetch_checkpoint("vox", sources=[], progress=False) == path  # cached: no source needed


def test_tampered_cache_is_refused(server, cache):
    path = fetch_checkpoint("vox", sources=[f"{server}/good/vox-cpk.pth.tar"], progress=False)
    path.write_bytes(GOOD[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="sha256 no longer matches"):
        fetch_checkpoint("vox", sources=[], progress=False)


def test_failing_mirror_falls_through_to_the_next(server, cache):
    sources = [f"{server}/missing/vox-cpk.pth.tar", f"{server}/half/vox-cpk.pth.tar", f"{server}/good/vox-cpk.pth.tar"]
    assert fetch_checkpoint("vox", sources=sources, progress=False).read_bytes() == GOOD
    assert sorted(p.name for p in cache.iterdir()) == ["sha256.json", "vox-cpk.pth.tar"]


@pytest.mark.parametrize("kind, reason", [("half", "incomplete|connection lost"), ("missing", "404"), ("html", "not a torch checkpoint")])
def test_failures_leave_nothing_and_explain_the_manual_way(server, cache, kind, reason):
    with pytest.raises(DownloadError) as caught:
        fetch_checkpoint("taichi", sources=[f"{server}/{kind}/taichi-cpk.pth.tar"], progress=False)
    message = str(caught.value)
    assert message.startswith("taichi-cpk.pth.tar: could not download") and "\n" not in message
    assert "Download it by hand from https://drive.google.com/drive/folders/" in message and str(cache) in message
    assert __import__("re").search(reason, message)
    assert list(cache.iterdir()) == []


def test_corrupted_download_against_a_known_sha_is_rejected(server, cache, monkeypatch):
    import dataclasses

    import fomm_nb.download as download

    entry = dataclasses.replace(get_model_entry("mgif"), sha256="0" * 64)
    monkeypatch.setattr(download, "get_model_entry", lambda name: entry)
    with pytest.raises(DownloadError, match="sha256 differs"):
        fetch_checkpoint("mgif", sources=[f"{server}/good/mgif-cpk.pth.tar"], progress=False)
    assert list(cache.iterdir()) == []


def test_offline_default_sources_fail_cleanly(cache):
    """No network here: the real mirrors fail fast, with the manual instructions."""
    with pytest.raises(DownloadError, match="Download it by hand"):
        fetch_checkpoint("nemo", sources=["http://127.0.0.1:9/nemo-cpk.pth.tar"], progress=False, timeout=5)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown model; known: demo, vox, vox-adv"):
        fetch_checkpoint("voxx")


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"generator": Exploit()}, tmp_path / "evil.pth.tar")
    with pytest.raises(CheckpointError, match="evil.pth.tar: refused: the file carries code"):
        load_checkpoint_file(tmp_path / "evil.pth.tar")
    assert not marker.exists()
