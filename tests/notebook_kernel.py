"""A Jupyter kernelspec that runs this very Python (the venv's), for nbclient and Voila in the tests.

Its folder goes first on ``JUPYTER_PATH``, so the notebooks' ``python3`` kernel is this interpreter
whatever other kernelspecs the machine has.
"""

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

KERNEL_NAME = "python3"  # the notebooks' kernelspec name


def write_kernelspec(folder):
    """Write ``folder/kernels/python3/kernel.json`` running ``sys.executable``; returns ``folder``."""
    spec = Path(folder) / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (fomm-nb tests)",
        "language": "python",
    }))
    return Path(folder)


def jupyter_path_with(folder):
    """``JUPYTER_PATH`` with ``folder`` first."""
    rest = os.environ.get("JUPYTER_PATH")
    return str(folder) if not rest else os.pathsep.join([str(folder), rest])


@contextmanager
def this_python_kernel(folder):
    """Within the block, kernels named ``python3`` run ``sys.executable``."""
    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = jupyter_path_with(write_kernelspec(folder))
    try:
        yield KERNEL_NAME
    finally:
        if before is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = before
