"""Run Voila for a :class:`~fomm_nb.serve.plan.ServePlan`: start it, say where and how many, stop it cleanly.

Voila runs as a child process in its own session (so that Ctrl-C reaches
``fomm-nb serve`` first, which then stops Voila and waits for it to shut its
kernels down; a kernel still running after that is ended by its PID). Its
warnings and errors are copied to ours; the line that says a kernel pool is
filled tells us the pages are ready.

Example:
    >>> with VoilaServer(plan) as server:  # doctest: +SKIP
    ...     server.wait_until_ready(timeout=300)
    ...     server.wait()
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from ..errors import FommError
from .plan import ServePlan, move_interval_ms, voila_command, write_runtime

__all__ = ["VoilaServer", "ServeError"]

STOP_TIMEOUT = 30.0  # seconds Voila gets to shut its kernels down before it is killed
SHOWN = re.compile(r"\[[WEC] |Traceback|\S+Error")  # Voila's warnings and errors, not its info lines
IDLE_CPU = 0.05  # share of a core under which a kernel counts as idle (its page has run)
POOL_FILLED = re.compile(r"Kernel pool of (?P<page>\S+) is filled with (?P<count>\d+) kernel")
KERNEL_DIED = re.compile(r"Kernel died before replying")  # a pool kernel that did not start (Voila goes on)


class ServeError(FommError):
    """Voila did not start, or stopped by itself."""


class VoilaServer:
    """Voila serving ``plan`` as a child process (by its PID), with a fresh runtime folder for its kernels.

    Attributes:
        process: the Voila process (after :meth:`start`).
        log_lines: the last lines Voila logged.
        filled: the pages whose kernel pool is full.
        died: pool kernels that died while starting (a page given one fails; a reload takes the next).
    """

    def __init__(self, plan: ServePlan, echo=sys.stderr):
        self.plan = plan
        self.echo = echo
        self.process = None
        self.log_lines = []
        self.filled = set()
        self.died = 0
        self._runtime = None
        self._reader = None

    def start(self) -> "VoilaServer":
        self._runtime = tempfile.TemporaryDirectory(prefix="fomm-nb-serve-")
        runtime = write_runtime(Path(self._runtime.name), move_interval_ms(self.plan.students))  # the whole class shares it
        paths = [str(runtime), os.environ.get("JUPYTER_PATH", "")]
        env = {**os.environ, "JUPYTER_PATH": os.pathsep.join(p for p in paths if p), **_quiet_python()}
        self.process = subprocess.Popen(voila_command(self.plan), env=env, cwd=self.plan.notebooks,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        return self

    def _read_log(self) -> None:
        for line in self.process.stdout:
            self.log_lines = (self.log_lines + [line.rstrip()])[-200:]
            match = POOL_FILLED.search(line)
            if match:
                self.filled.add(Path(match["page"]).name)
            self.died += bool(KERNEL_DIED.search(line))
            if self.echo is not None and SHOWN.search(line):
                self.echo.write(line)
                self.echo.flush()

    def _local_url(self) -> str:
        host = "127.0.0.1" if self.plan.host in ("0.0.0.0", "") else self.plan.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.plan.port}/"

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            tail = "\n".join(self.log_lines[-15:])
            raise ServeError(f"Voila stopped with status {self.process.returncode}; its last lines:\n{tail}")

    def wait_until_listening(self, timeout: float = 60.0) -> None:
        """Wait for Voila to answer HTTP (any answer: a 403 without the token is one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                with urllib.request.urlopen(self._local_url() + "voila/static/favicon.ico", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.3)
        raise ServeError(f"Voila did not answer at {self._local_url()} within {timeout:.0f} s")

    def kernels(self) -> list:
        """The kernel processes Voila started (``psutil.Process``)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [child for child in children if "ipykernel" in " ".join(_command_line(child))]

    def wait_until_ready(self, timeout: float = 600.0) -> float:
        """Wait until every pool is full and its kernels have run their page; returns the seconds waited.

        Voila reports a pool full once its kernels are started; they then run
        the page, which takes seconds of CPU each. Ready means: as many
        kernels as the pools hold (less those that died while starting: Voila
        serves without them), each idle (under :data:`IDLE_CPU` of CPU over
        one second).
        """
        start = time.monotonic()
        self.wait_until_listening(timeout)
        expected = self.plan.pool_size * len(self.plan.apps)
        while True:
            self._check_running()
            if time.monotonic() - start > timeout:
                raise ServeError(f"the kernels were not ready after {timeout:.0f} s")
            kernels = self.kernels()
            if not set(self.plan.apps) - self.filled and len(kernels) + self.died >= expected and _all_idle(kernels):
                return time.monotonic() - start
            time.sleep(0.2)

    def wait(self) -> int:
        """Block until Voila exits; returns its status."""
        return self.process.wait()

    def stop(self) -> None:
        """Ask Voila to stop (SIGTERM: it shuts its kernels down); kill it and any kernel left, by PID; clean up."""
        if self.process is not None and self.process.poll() is None:
            kernels = psutil.Process(self.process.pid).children(recursive=True)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            _, alive = psutil.wait_procs(kernels, timeout=5)  # Voila shuts its kernels down as it stops
            for kernel in alive:
                kernel.kill()
        if self._reader is not None:
            self._reader.join(timeout=5)  # the log ends when Voila exits
            self.process.stdout.close()
            self._reader = None
        if self._runtime is not None:
            self._runtime.cleanup()
            self._runtime = None

    def __enter__(self) -> "VoilaServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _command_line(process: psutil.Process) -> list:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _all_idle(kernels: list, window: float = 1.0) -> bool:
    """True when none of ``kernels`` used more than :data:`IDLE_CPU` of a core over ``window`` seconds."""
    def cpu(process):
        try:
            times = process.cpu_times()
            return times.user + times.system
        except psutil.Error:
            return 0.0

    before = [cpu(kernel) for kernel in kernels]
    time.sleep(window)
    return all(cpu(kernel) - used < IDLE_CPU * window for kernel, used in zip(kernels, before))


def _quiet_python() -> dict:
    """Environment that keeps Voila's own process to one BLAS thread too (it renders, it does not compute)."""
    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "PYTHONUNBUFFERED": "1"}
