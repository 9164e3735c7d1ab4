"""What ``fomm-nb serve`` runs: the Voila command, the kernel spec and page template it needs, and its address.

Everything here is decided before a process starts, so it is tested without
one. :func:`make_plan` turns the command's options into a :class:`ServePlan`;
:func:`write_runtime` writes the folder that goes first on ``JUPYTER_PATH``:

* ``kernels/python3/kernel.json``: the pages' ``python3`` kernel is this
  Python, started with IPython's history database off (every kernel would
  otherwise write one SQLite file, and under a class they lock each other:
  "database is locked" on the students' pages), with one thread for torch
  and the BLAS libraries (a class shares the cores; a second thread per
  kernel only adds contention), and :data:`KERNEL_NICENESS` nicer than the
  server, which relays every student's messages;
* ``voila/templates/fomm-app/``: Voila's ``lab`` template plus a check in the
  page: when no app has appeared ``page_timeout`` seconds after the page
  loaded, the page says so and offers Retry (a reload, which starts a fresh
  kernel) instead of showing a page without its app.

Example:
    >>> plan = make_plan(app="explorer", students=16, host="127.0.0.1", port=8866, token=None,
    ...                  notebooks=apps_folder())
    >>> plan.address, plan.pool_size, plan.token
    ('http://127.0.0.1:8866/', 16, None)
    >>> make_plan(app="explorer", students=4, host="192.168.1.20", port=8866, token="s3cret-word",
    ...           notebooks=apps_folder()).address
    'http://192.168.1.20:8866/?token=s3cret-word'
"""

import ipaddress
import json
import math
import os
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, InputError

__all__ = [
    "APPS",
    "KERNEL_ENV",
    "KERNEL_ARGUMENTS",
    "MOVE_WAIT_VARIABLE",
    "UPDATES_PER_CORE",
    "move_interval_ms",
    "IOPUB_TIMEOUT",
    "REFILL_DELAY",
    "REFILL_SPACING",
    "PAGE_TIMEOUT",
    "ServePlan",
    "apps_folder",
    "is_loopback",
    "make_plan",
    "kernel_transport",
    "page_settings",
    "voila_command",
    "write_runtime",
]

APPS = {"try-it": "try_it.ipynb", "explorer": "explorer.ipynb", "sliders": "sliders.ipynb", "live": "live.ipynb"}
OPTIONAL_APPS = {"live"}  # served only where its page exists (it comes with the live-camera app)
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
KERNEL_ARGUMENTS = ["--HistoryManager.enabled=False"]
# The environment variable that gives each served explorer its share of the server: the shortest interval (ms)
# between two mouse moves it asks of the browser (fomm_nb.widgets.updates.MovePacer; its own floor is 50 ms).
MOVE_WAIT_VARIABLE = "FOMM_NB_MOVE_WAIT_MS"
# Explorer updates a second that one core serves a class through Voila. benchmarks/classroom.py, 2-core Xeon, idle,
# since the motion panels go out as one message (3 widget messages per update instead of 8): 96 updates/s in all
# kept drags at p95 0.12-0.21 s (16 students twice, 24); 115/s gave p95 0.30 s at 16 but 0.70 s at 24, with the
# machine's 2 cores 90% busy. (With 8 messages per update the edge was 72-88/s, in the one Voila process's queues.)
UPDATES_PER_CORE = 48
# Kernels run this much nicer than the server (POSIX `nice`): every mouse move and every picture of every student
# goes through the one Voila process, which should not wait for a core behind the class's kernels. Measured at 16
# students on 2 cores it did not shorten the drags (p50 3.1 s against 3.4 s before each student got a share,
# UPDATES_PER_CORE): Voila's queues grew from its own work, not from waiting for a core.
KERNEL_NICENESS = 10
# Seconds Voila waits for a cell's output. Its default, 4 s, is shorter than a
# page's start when a class opens pages together, and a late output is lost:
# the page shows no app and no error.
IOPUB_TIMEOUT = 300
# Seconds before Voila starts a spare kernel for each page taken from the pool:
# long enough that the class's first drags do not compete with the refills.
REFILL_DELAY = 20.0
# Seconds between two of those spare kernels' starts (each runs the page: seconds of CPU), so that a
# class's spares do not all start together on the cores it drags on (fomm_nb.serve.kernels).
REFILL_SPACING = 20.0
KERNEL_MANAGER = "fomm_nb.serve.kernels.PacedKernelManager"
PAGE_TIMEOUT = 60  # seconds a page waits for its app before saying it did not appear
TEMPLATE = "fomm-app"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass(frozen=True)
class ServePlan:
    """What to serve and how.

    Attributes:
        notebooks: the folder of app pages.
        apps: the page file names served (``explorer.ipynb``...).
        host, port: where Voila listens.
        token: the token students add to the address (None: no token, loopback only).
        students: the size of the class (over all the apps served).
        pool_size: kernels started ahead (with their page already run) for each app.
        page_timeout: seconds a page waits for its app before offering Retry.
    """

    notebooks: Path
    apps: tuple
    host: str
    port: int
    token: str | None
    students: int
    pool_size: int
    page_timeout: int = PAGE_TIMEOUT

    @property
    def single(self) -> bool:
        """One app: Voila serves its page at the root address."""
        return len(self.apps) == 1

    @property
    def address(self) -> str:
        """The address to give the students (on all interfaces, this machine's name stands for the host)."""
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    def page_address(self, page: str) -> str:
        """The address of one app's page (``explorer.ipynb``)."""
        if self.single:
            return self.address
        base, _, query = self.address.partition("?")
        return f"{base}voila/render/{page}" + (f"?{query}" if query else "")


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("192.168.1.20")
        (True, True, False, False)
    """
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a machine name: it may resolve to a class network
        return False


def apps_folder() -> Path:
    """``notebooks/apps`` of the repository this package was installed from (an editable install or a clone)."""
    return Path(__file__).resolve().parents[2] / "notebooks" / "apps"


def _choose_apps(app: str, notebooks: Path) -> tuple:
    if not notebooks.is_dir():
        raise InputError(f"{notebooks}: no such folder of app pages; run from a clone of fomm-nb "
                         "(the pages are in notebooks/apps) or pass --notebooks DIR")
    if app == "all":
        return tuple(page for page in APPS.values() if (notebooks / page).is_file())
    page = APPS[app]
    if not (notebooks / page).is_file():
        if app in OPTIONAL_APPS:
            raise InputError(f"--app {app}: this copy of fomm-nb has no {app} page ({notebooks / page}) yet")
        raise InputError(f"{notebooks / page}: the {app} page is missing")
    return (page,)


def make_plan(app: str, students: int, host: str, port: int, token: str | None, notebooks: Path,
              page_timeout: int = PAGE_TIMEOUT) -> ServePlan:
    """Check the options and decide the pools and the token.

    Off loopback, a page runs code on this machine for whoever can reach the
    port, so a token is required: without ``token`` one is generated (and
    printed with the address).

    Example:
        >>> plan = make_plan("all", 12, "192.168.1.20", 8866, None, apps_folder())
        >>> len(plan.token) > 20, plan.pool_size == math.ceil(12 / len(plan.apps))  # a token; the class over the apps
        (True, True)
    """
    if students < 1:
        raise InputError(f"--students {students}: a class has at least one student")
    if token is not None and (len(token) < 8 or not token.isprintable() or " " in token):
        raise InputError("--token: use at least 8 printable characters without spaces")
    apps = _choose_apps(app, Path(notebooks))
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(16)
    return ServePlan(notebooks=Path(notebooks).resolve(), apps=apps, host=host, port=port, token=token,
                     students=students, pool_size=math.ceil(students / len(apps)), page_timeout=page_timeout)


def voila_command(plan: ServePlan) -> list:
    """The Voila command line for ``plan`` (run with :func:`write_runtime`'s folder first on ``JUPYTER_PATH``)."""
    target = plan.notebooks / plan.apps[0] if plan.single else plan.notebooks
    command = [
        sys.executable, "-m", "voila", str(target), "--no-browser",
        f"--Voila.ip={plan.host}", f"--Voila.port={plan.port}", "--Voila.port_retries=0",
        *page_settings(plan.page_timeout),
        "--preheat_kernel=True", f"--pool_size={plan.pool_size}", f"--VoilaKernelManager.fill_delay={REFILL_DELAY}",
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}",
        f"--PacedKernelManager.free_starts={plan.pool_size * len(plan.apps)}",
        f"--PacedKernelManager.spacing={REFILL_SPACING}", *kernel_transport(),
    ]
    return command + [f"--token={plan.token or ''}"]


def kernel_transport() -> list:
    """Voila's options for kernels on Unix sockets (POSIX systems; elsewhere none: TCP).

    A kernel on TCP gets ports that were free when they were chosen; with a
    class's kernels starting together on a busy machine, another process
    sometimes took one first and the kernel died ("Address already in use").
    Unix sockets in Voila's own folder cannot be taken, nor reached by other
    users of the machine. The folder goes in /tmp: a socket's path has at most
    104 to 108 bytes, and a user's temporary folder can be long.

    Example:
        >>> kernel_transport()[0] if os.name == "posix" else "--KernelManager.transport=ipc"
        '--KernelManager.transport=ipc'
    """
    if os.name != "posix" or not Path("/tmp").is_dir():
        return []
    return ["--KernelManager.transport=ipc", "--Voila.connection_dir_root=/tmp"]


def page_settings(page_timeout: int = PAGE_TIMEOUT) -> list:
    """Voila's options for the app pages: the ``fomm-app`` template and the IOPub timeout.

    ``fomm-nb serve`` passes them to Voila; a JupyterHub user server (see
    ``deploy/jupyterhub/``) passes them to its Voila extension.

    Example:
        >>> page_settings(30)[0]
        '--VoilaConfiguration.template=fomm-app'
    """
    return [f"--VoilaConfiguration.template={TEMPLATE}",
            f"--VoilaConfiguration.resources=fomm_app_timeout={page_timeout}",  # the template reads it as a number
            f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT}"]


def move_interval_ms(students: int, cores: int | None = None) -> int:
    """The mouse-move interval (ms) that gives each of ``students`` an equal share of :data:`UPDATES_PER_CORE` x ``cores``.

    ``cores``: this process's CPUs by default.

    Example:
        >>> move_interval_ms(16, cores=2), move_interval_ms(4, cores=2)
        (167, 42)
    """
    cores = cores or len(os.sched_getaffinity(0))
    return math.ceil(1000 * students / (UPDATES_PER_CORE * cores))


def _nicer() -> list[str]:
    """The command prefix that starts a kernel :data:`KERNEL_NICENESS` nicer; none where there is no ``nice`` (Windows)."""
    nice = shutil.which("nice")
    return [nice, "-n", str(KERNEL_NICENESS)] if nice else []


def write_runtime(folder: Path, move_wait_ms: int | None = None) -> Path:
    """Write the kernel spec and the page template into ``folder`` (a ``JUPYTER_PATH`` entry); returns it.

    ``move_wait_ms``: each student's mouse-move interval (:func:`move_interval_ms`), None for the apps' own.

    Example:
        >>> folder = write_runtime(Path("runtime"), move_wait_ms=182)
        >>> spec = json.loads((folder / "kernels" / "python3" / "kernel.json").read_text())
        >>> spec["argv"][-1], spec["env"]["OMP_NUM_THREADS"], spec["env"][MOVE_WAIT_VARIABLE]
        ('--HistoryManager.enabled=False', '1', '182')
    """
    folder = Path(folder)
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [*_nicer(), sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", *KERNEL_ARGUMENTS],
        "display_name": "Python 3 (fomm-nb serve)",
        "language": "python",
        "env": {**KERNEL_ENV, **({MOVE_WAIT_VARIABLE: str(move_wait_ms)} if move_wait_ms else {})},
    }, indent=1))
    template = folder / "voila" / "templates" / TEMPLATE
    if template.exists():
        shutil.rmtree(template)
    source = Path(__file__).with_name("templates") / TEMPLATE
    if not source.is_dir():
        raise ConfigError(f"{source}: the page template is missing from this installation of fomm-nb")
    shutil.copytree(source, template)
    return folder
