"""JupyterHub for a workshop on one machine: fomm-nb's app pages for logged-in students, each in a server of their own.

Run it from the environment fomm-nb is installed in (``bash scripts/setup.sh``
and ``pip install -e '.[hub]'``), in a folder for the hub's state::

    FOMM_HUB_PASSWORD='a-class-password' .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Students open http://HOST:8000/, log in with any name and the class password,
and land on Voila's list of the app pages (explorer, try-it, sliders). What
this sets up, and why:

* a shared class password (JupyterHub's ``SharedPasswordAuthenticator``):
  anyone with it can log in under any name, so keep it to the class;
* ``SimpleLocalProcessSpawner``: each student's server is a process of the
  user running the hub, with a home folder of its own under
  ``FOMM_HUB_HOMES``. There is no isolation between students; for that, use
  real system accounts (``LocalProcessSpawner`` and the PAM authenticator)
  or the Kubernetes form (``deploy/jupyterhub/config.yaml``);
* the kernels ``fomm-nb serve`` uses: IPython's history database off, one
  torch thread each (a class shares the cores), and the ``fomm-app`` page
  template, whose pages say so, with a Retry, when the app did not start;
* the hub listens on 127.0.0.1 unless ``FOMM_HUB_IP`` says otherwise
  (``0.0.0.0``: every network this machine is on).

Settings from the environment: ``FOMM_HUB_PASSWORD`` (required, 8 characters
or more), ``FOMM_HUB_IP`` (127.0.0.1), ``FOMM_HUB_PORT`` (8000),
``FOMM_HUB_API_PORT`` and ``FOMM_HUB_PROXY_API_PORT`` (the hub's and the
proxy's own ports on 127.0.0.1: 8081, 8001), ``FOMM_HUB_STATE`` (the folder for the hub's database and cookie secret: the
current folder), ``FOMM_HUB_HOMES`` (the students' home folders:
``FOMM_HUB_STATE/homes``), ``FOMM_HUB_DEFAULT_URL`` (where a student lands:
``/voila/tree``, Voila's list of the app pages).
"""

import os
import sys
from pathlib import Path

from fomm_nb.serve.plan import KERNEL_ENV, apps_folder, page_settings, write_runtime

c = get_config()  # noqa: F821 (JupyterHub's config loader provides it)

password = os.environ.get("FOMM_HUB_PASSWORD", "")
if len(password) < 8:
    sys.exit("jupyterhub_config.py: set FOMM_HUB_PASSWORD to the class password (8 characters or more)")
state = Path(os.environ.get("FOMM_HUB_STATE", ".")).resolve()
state.mkdir(parents=True, exist_ok=True)
bin_folder = Path(sys.executable).parent  # the environment fomm-nb and JupyterHub are installed in

c.JupyterHub.ip = os.environ.get("FOMM_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("FOMM_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"  # the hub's own API: only the proxy and the students' servers, on this machine
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.hub_port = int(os.environ.get("FOMM_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('FOMM_HUB_PROXY_API_PORT', '8001')}"
proxy = bin_folder / "configurable-http-proxy"  # the hub extra's (Python); else npm's on PATH
# A page runs its notebook before it answers: on a busy machine that takes longer than the proxy's 20 s default.
c.ConfigurableHTTPProxy.command = [str(proxy) if proxy.exists() else "configurable-http-proxy",
                                   "--timeout=300000", "--proxy-timeout=300000"]
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = password
c.Authenticator.allow_all = True  # any name, with the class password

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = os.environ.get("FOMM_HUB_HOMES", str(state / "homes")) + "/{username}"
c.Spawner.cmd = [str(bin_folder / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = str(apps_folder())
c.Spawner.default_url = os.environ.get("FOMM_HUB_DEFAULT_URL", "/voila/tree")
c.Spawner.args = [*page_settings(), *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else [])]
runtime = write_runtime(state / "runtime")  # the kernel spec (no history, one thread) and the page template
c.Spawner.environment = {**KERNEL_ENV, "JUPYTER_PATH": str(runtime)}
# A class logs in within a minute: start a few servers at a time, and give each time on a busy machine.
c.JupyterHub.concurrent_spawn_limit = 8
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120
