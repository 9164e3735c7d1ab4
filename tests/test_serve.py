"""``fomm-nb serve``: a real Voila on 127.0.0.1, pages fetched over HTTP and opened in Chromium.

* the command starts, serves the explorer page with its app, and stops on
  SIGINT with its kernels, leaving the port free;
* served kernels have IPython's history database off and one torch thread,
  and a token keeps out a visitor without it;
* off loopback a token is required (generated when none is given);
* a page whose app fails to start shows the failure and a working Retry, and
  a page whose app never appears says so (Chromium, as tests/test_browser.py).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from fomm_nb.errors import InputError
from fomm_nb.serve import make_plan
from fomm_nb.serve.plan import KERNEL_NICENESS, apps_folder, move_interval_ms, voila_command
from fomm_nb.serve.server import VoilaServer

START_TIMEOUT = 120  # seconds: Voila up and its kernels ready, on a loaded 2-core machine
STOP_TIMEOUT = 45
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_is_free(port):
    """Nobody listens on ``port``: a new server can bind it (as servers do, past closed connections' TIME_WAIT)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url):
    """``(status, body)`` of a GET, redirects not followed (a 302 to the login page is an answer)."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _write_pages(folder, pages):
    """Write ``{name: code}`` as one-cell notebooks ``folder/name``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, code in pages.items():
        notebook = new_notebook(cells=[new_code_cell(code)],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}})
        nbformat.write(notebook, folder / name)
    return folder


def _served(folder, app, token=None, page_timeout=60):
    plan = make_plan(app, 1, "127.0.0.1", _free_port(), token, folder, page_timeout=page_timeout)
    return plan, VoilaServer(plan, echo=None)


def test_serve_starts_serves_the_explorer_and_stops_cleanly():
    port = _free_port()
    command = [sys.executable, "-m", "fomm_nb.cli", "serve", "--app", "explorer", "--students", "1",
               "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not any(line.startswith("Ctrl-C") for line in lines) and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, f"fomm-nb serve exited early:\n{''.join(lines)}"
            lines.append(line)
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in output, output
        assert "holds about" in output, output
        status, page = _get(f"http://127.0.0.1:{port}/")
        kernels = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert status == 200
    assert WIDGET_VIEW in page, "the explorer page has no widget output"
    assert "The app did not start" not in page
    assert "fomm-app-missing" in page, "the page is not fomm-nb's template"
    assert process.returncode == 0, rest
    assert "stopping Voila" in rest
    assert kernels and not [kernel for kernel in kernels if kernel.is_running()], "a kernel outlived the server"
    assert _port_is_free(port)


def test_served_kernels_have_no_history_one_thread_and_a_token(tmp_path):
    probe = ("import os, torch\nip = get_ipython()\n"
             "print(f'history={ip.history_manager.enabled} threads={torch.get_num_threads()} nice={os.nice(0)} '\n"
             "      f'move_wait={os.environ.get(\"FOMM_NB_MOVE_WAIT_MS\")}')")
    folder = _write_pages(tmp_path / "pages", {"explorer.ipynb": probe})
    plan, server = _served(folder, "explorer", token="class-token-1")
    with server:
        server.wait_until_ready(START_TIMEOUT)
        refused, login = _get(f"http://127.0.0.1:{plan.port}/")
        status, page = _get(plan.address)
    assert refused in (302, 401, 403) and "history=" not in login, f"a visitor without the token got {refused}"
    assert status == 200
    nicer = min(19, os.nice(0) + KERNEL_NICENESS)  # than this process, whose niceness the server has
    expected = f"history=False threads=1 nice={nicer} move_wait={move_interval_ms(plan.students)}"
    assert expected in page, re.findall(r"history=\w+ threads=\d+ nice=\d+ move_wait=\w+", page)


def test_off_loopback_a_token_is_required():
    pages = apps_folder()
    plan = make_plan("explorer", 16, "0.0.0.0", 8866, None, pages)
    assert plan.token and len(plan.token) >= 16, "no token generated for a public address"
    assert f"?token={plan.token}" in plan.address
    assert f"--token={plan.token}" in voila_command(plan)
    assert make_plan("explorer", 16, "127.0.0.1", 8866, None, pages).token is None
    assert "--token=" in voila_command(make_plan("explorer", 16, "127.0.0.1", 8866, None, pages))
    with pytest.raises(InputError, match="--token"):
        make_plan("explorer", 16, "0.0.0.0", 8866, "short", pages)


def test_live_is_refused_until_its_page_exists(tmp_path):
    folder = _write_pages(tmp_path / "pages", {"explorer.ipynb": "1"})
    with pytest.raises(InputError, match="no live page"):
        make_plan("live", 4, "127.0.0.1", 8866, None, folder)


FAILING_PAGE = """\
import ipywidgets as widgets
from fomm_nb.widgets.app_page import show_app

attempts = []
def app():
    attempts.append(1)
    if len(attempts) == 1:
        raise MemoryError("no memory left for the model")
    return widgets.Label("started on attempt 2", layout=widgets.Layout(width="400px"))

show_app(app)"""


def test_a_failed_app_shows_its_failure_and_retry_and_a_missing_app_is_noticed(tmp_path):
    from test_browser import _browser, _requirements

    _requirements()
    pages = {"explorer.ipynb": FAILING_PAGE, "sliders.ipynb": "x = 1  # shows no app"}
    plan, server = _served(_write_pages(tmp_path / "pages", pages), "all", page_timeout=3)
    messages = []
    with server, _browser(tmp_path / "chromium-profile", messages) as page:
        server.wait_until_ready(START_TIMEOUT)
        page.goto(plan.page_address("explorer.ipynb"), timeout=START_TIMEOUT * 1000)
        failure = page.locator(".fomm-app-failed")
        failure.wait_for(state="visible", timeout=START_TIMEOUT * 1000)
        text = failure.inner_text()
        page.locator(".fomm-app button", has_text="Retry").click()
        page.get_by_text("started on attempt 2").wait_for(state="visible", timeout=30_000)
        failed_after_retry = page.locator(".fomm-app-failed").count()

        page.goto(plan.page_address("sliders.ipynb"), timeout=START_TIMEOUT * 1000)
        notice = page.locator("#fomm-app-missing")
        notice.wait_for(state="visible", timeout=30_000)
        notice_text = notice.inner_text()
        has_retry = page.locator("#fomm-app-retry").is_visible()
    assert "The app did not start: MemoryError: no memory left for the model" in text
    assert "Traceback" not in text
    assert failed_after_retry == 0, "the failure stayed after a successful Retry"
    assert "The app has not appeared" in notice_text and has_retry


def test_spare_kernels_start_one_at_a_time_and_waiting_ones_do_not_delay_the_stop(tmp_path):
    from fomm_nb.serve.plan import REFILL_DELAY, REFILL_SPACING

    folder = _write_pages(tmp_path / "pages", {"explorer.ipynb": "x = 1"})
    plan = make_plan("explorer", 3, "127.0.0.1", _free_port(), None, folder)
    server = VoilaServer(plan, echo=None)
    with server:
        server.wait_until_ready(START_TIMEOUT)
        for _ in range(3):  # three students take the pool's three kernels: three spares are due
            assert _get(plan.address)[0] == 200
        taken = time.monotonic()
        while len(server.kernels()) < 4 and time.monotonic() - taken < REFILL_DELAY + START_TIMEOUT:
            time.sleep(0.2)
        first_spare = time.monotonic() - taken
        time.sleep(REFILL_SPACING / 2)
        counted = len(server.kernels())
        kernels = server.kernels()
        stopping = time.monotonic()
    stopped = time.monotonic() - stopping
    assert first_spare >= REFILL_DELAY - 1, f"the first spare started {first_spare:.0f} s after the class came"
    assert counted == 4, f"{counted - 3} spares started within {REFILL_SPACING / 2:.0f} s (one at a time expected)"
    assert stopped < 20, f"stopping took {stopped:.0f} s with two spares still waiting their turn"
    assert not [kernel for kernel in kernels if kernel.is_running()], "a kernel outlived the server"


def test_a_plan_of_all_apps_keeps_the_class_size_beside_the_pools():
    plan = make_plan("all", 16, "127.0.0.1", 8866, None, apps_folder())
    assert plan.students == 16, "the share of the server and the estimate are the whole class's"
    assert plan.pool_size == -(-16 // len(plan.apps)) < 16, "the pools split the class over the app pages"
