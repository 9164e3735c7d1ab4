"""``fomm-nb serve``: the apps as web pages for a class, with Voila set up for many students at once.

    fomm-nb serve                                   the keypoint explorer on http://127.0.0.1:8866/
    fomm-nb serve --app all --students 24           every app page, kernels ready for 24 students
    fomm-nb serve --host 0.0.0.0 --students 16      open to the class network (a token is required)

Each student's page gets a kernel of its own. ``serve`` starts Voila with
kernels ready ahead (a pool per app page, the page already run, so a page
opens in seconds), a long IOPub timeout (Voila's 4 s default loses the app
of pages opened together), kernels without IPython's history database,
with one torch thread and a lower priority than the server, and a token off loopback. It prints the address to
give the students and what the machine holds; Ctrl-C stops Voila and its
kernels. :mod:`~fomm_nb.serve.plan` decides, :mod:`~fomm_nb.serve.server`
runs, :mod:`~fomm_nb.serve.capacity` estimates (these two need the
``notebooks`` extra; the ``fomm-nb`` command works without it).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); add_arguments(parser)
    >>> args = parser.parse_args(["--app", "all", "--students", "12"])
    >>> args.app, args.students, args.host
    ('all', 12, '127.0.0.1')
"""

import argparse
import signal
from pathlib import Path

from ..arguments import int_option
from .plan import APPS, PAGE_TIMEOUT, ServePlan, apps_folder, make_plan

__all__ = ["add_arguments", "run", "ServePlan", "make_plan"]

DEFAULT_PORT = 8866
READY_TIMEOUT = 900.0  # seconds for the pools to fill (a large class on a small machine)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fomm-nb serve``."""
    parser.add_argument("--app", choices=[*APPS, "all"], default="explorer", help="which app page to serve")
    parser.add_argument("--students", type=int_option(1), default=8, help="kernels to keep ready: the size of the class")
    parser.add_argument("--port", type=int_option(1, 65535), default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on: 127.0.0.1 (this machine only, the default) or 0.0.0.0 "
                             "(every network this machine is on: a token is then required)")
    parser.add_argument("--token", help="the token students add to the address (default: generated off loopback)")
    parser.add_argument("--notebooks", type=Path, default=None, help="folder of app pages (default: notebooks/apps)")
    parser.add_argument("--page-timeout", type=int_option(1), default=PAGE_TIMEOUT,
                        help="seconds a page waits for its app before it offers Retry")


def _announce(plan: ServePlan, seconds: float, died: int = 0) -> None:
    from .capacity import describe

    names = [name for name, page in APPS.items() if page in plan.apps]
    print(f"fomm-nb serve: ready in {seconds:.0f} s, {plan.pool_size} kernel(s) ready per app page")
    if died:
        print(f"  {died} of them died while starting (see Voila's lines above); the pages open without them")
    for name, page in zip(names, plan.apps):
        print(f"  {name}: {plan.page_address(page)}")
    if plan.token:
        print("  anyone who can reach this port and has the address above can run code on this machine "
              "as this user: share it with the class only")
    for line in describe(names, plan.students):
        print("  " + line)
    print("Ctrl-C stops the server and every student's kernel.", flush=True)


def run(args: argparse.Namespace) -> None:
    """Serve until Ctrl-C (or SIGTERM); stop Voila and its kernels."""
    from .server import ServeError, VoilaServer  # needs the notebooks extra (Voila, psutil)

    plan = make_plan(args.app, args.students, args.host, args.port, args.token,
                     args.notebooks or apps_folder(), page_timeout=args.page_timeout)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops as Ctrl-C does
    print(f"fomm-nb serve: starting Voila on {plan.host}:{plan.port} for {args.students} students "
          f"({', '.join(plan.apps)}); the pages open once their kernels are ready", flush=True)
    server = VoilaServer(plan)
    try:
        server.start()
        _announce(plan, server.wait_until_ready(READY_TIMEOUT), server.died)
        status = server.wait()
        raise ServeError(f"Voila stopped by itself with status {status}")
    except KeyboardInterrupt:
        print("fomm-nb serve: stopping Voila and the students' kernels", flush=True)
    finally:
        server.stop()
