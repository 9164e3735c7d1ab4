"""The workshop JupyterHub of ``deploy/jupyterhub/``: a real hub on 127.0.0.1, two students in Chromium.

The hub runs ``deploy/jupyterhub/jupyterhub_config.py`` as a teacher would
(the ``hub`` extra's JupyterHub and Python configurable-http-proxy, free
ports, its state in a temporary folder). Two students log in through the
login form with the class password, each in a browser profile of their
own; each lands on Voila's list of the app pages, opens the explorer and
gets its app (the keypoint picture and the prediction drawn). Each has a
server process of their own, a student cannot open the other's pages, and
a wrong password is refused. The hub, its proxy and the students' servers
are stopped by their PIDs.

Without JupyterHub (the ``hub`` extra), Chromium or Playwright the test is
skipped on a user's machine, and fails under CI (``CI=true``).

    .venv/bin/python -m pytest tests/test_jupyterhub.py -s
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from test_browser import ARTIFACTS, _browser, _free_port, _missing, _requirements

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PASSWORD = "workshop-password-1"
START_TIMEOUT = 120  # seconds for the hub to answer (a loaded 2-core machine)
APP_TIMEOUT = 300  # seconds for a student's server to start and the explorer page to run its notebook
STOP_TIMEOUT = 30


def _hub_answers(url, hub, log, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            pytest.fail(f"the hub exited with status {hub.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "hub/login", timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    pytest.fail(f"the hub did not answer at {url} within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(hub, state):
    """SIGTERM to the hub (it stops the students' servers and its proxy); then whatever is left, by PID."""
    ours = psutil.Process(hub.pid).children(recursive=True)
    pid_file = state / "jupyterhub-proxy.pid"
    if pid_file.exists():
        try:
            ours.append(psutil.Process(int(pid_file.read_text())))
        except (ValueError, psutil.NoSuchProcess):
            pass
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait()
    _, alive = psutil.wait_procs(ours, timeout=10)
    for process in alive:
        process.kill()
    return ours


@pytest.fixture
def hub(tmp_path):
    """``(url, state folder, hub process)`` of the workshop hub on 127.0.0.1."""
    _requirements()
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        _missing("JupyterHub is missing (pip install -e '.[hub]')")
    if not Path(sys.executable).with_name("configurable-http-proxy").exists():
        _missing("configurable-http-proxy is missing from this environment (pip install -e '.[hub]')")
    state, port = tmp_path / "hub", _free_port()
    state.mkdir()
    env = {**os.environ, "FOMM_HUB_PASSWORD": PASSWORD, "FOMM_HUB_PORT": str(port), "FOMM_HUB_STATE": str(state),
           "FOMM_HUB_API_PORT": str(_free_port()), "FOMM_HUB_PROXY_API_PORT": str(_free_port())}
    log = state / "hub.log"
    with open(log, "w") as output:
        process = subprocess.Popen([str(Path(sys.executable).with_name("jupyterhub")), "-f", str(CONFIG)],
                                   cwd=state, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _hub_answers(url, process, log, START_TIMEOUT)
        yield url, state, process
    finally:
        left = [p for p in _stop(process, state) if p.is_running()]
        assert not left, f"processes outlived the hub: {left}"


def _log_in(page, url, name, password):
    page.goto(url + "hub/login", timeout=START_TIMEOUT * 1000)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")


def _server_pid(state, name):
    """The PID of ``name``'s server (a ``jupyterhub-singleuser`` started in their home folder)."""
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        command = " ".join(process.info["cmdline"] or [])
        if "jupyterhub-singleuser" in command and process.info["cwd"] == str(state / "homes" / name):
            return process.info["pid"]
    return None


def test_two_students_log_in_and_each_gets_the_explorer_in_their_own_server(hub, tmp_path):
    url, state, _ = hub
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    servers, messages = {}, []
    for name in ("ada", "grace"):
        with _browser(tmp_path / f"chromium-{name}", messages) as page:
            _log_in(page, url, name, "not-the-password")
            refusal = page.get_by_text("Invalid username or password")
            try:
                refusal.wait_for(state="visible", timeout=60_000)
            except Exception:  # noqa: BLE001 (counted as not refused below)
                pass
            refused = refusal.count()
            _log_in(page, url, name, PASSWORD)
            page.wait_for_url(f"**/user/{name}/voila/tree**", timeout=APP_TIMEOUT * 1000)
            listed = page.get_by_text("explorer.ipynb")
            listed.first.wait_for(state="visible", timeout=60_000)  # Voila's tree lists the pages from its script
            listed = listed.count()
            page.goto(f"{url}user/{name}/voila/render/explorer.ipynb", timeout=APP_TIMEOUT * 1000)
            try:
                page.wait_for_selector(".fomm-app img.fomm-explorer-prediction", state="visible",
                                       timeout=APP_TIMEOUT * 1000)
                page.wait_for_function("document.querySelector('img.fomm-explorer-main').naturalWidth > 0",
                                       timeout=60_000)
            finally:
                page.screenshot(path=str(ARTIFACTS / f"hub-{name}-explorer.png"), full_page=True)
            failed = page.locator(".fomm-app-failed, #fomm-app-missing:visible").count()
            other = "grace" if name == "ada" else "ada"
            answer = page.goto(f"{url}user/{other}/voila/render/explorer.ipynb", timeout=APP_TIMEOUT * 1000)
            foreign = (answer.status, page.url)
        servers[name] = _server_pid(state, name)
        assert refused == 1, f"{name}: a wrong password was not refused"
        assert listed >= 1, f"{name}: Voila's list of app pages has no explorer"
        assert failed == 0, f"{name}: the explorer page says the app did not start (screenshot in {ARTIFACTS})"
        # ada's server is running when grace tries it: refused (403); grace's is not yet when ada tries (404)
        assert foreign[0] == (403 if name == "grace" else 404), f"{name} opened {other}'s page: {foreign}"
    assert None not in servers.values() and servers["ada"] != servers["grace"], servers
