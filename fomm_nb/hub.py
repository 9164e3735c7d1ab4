"""Models by name: the bundled demo model, the published checkpoints, or a file.

Example:
    >>> model = get_model("demo")  # the bundled model, offline
    >>> model = get_model("vox")   # downloads vox-cpk.pth.tar into the cache once  # doctest: +SKIP
    >>> print(model_table())  # doctest: +SKIP
"""

import functools
import os
from pathlib import Path

import torch

from .checkpoints import load_model
from .config import ModelConfig, load_config
from .download import cache_dir, fetch_checkpoint, local_checkpoint_path
from .errors import ConfigError
from .model import FirstOrderModel
from .registry import MODELS, ModelEntry

__all__ = ["get_model", "model_table", "config_of", "model_image_size", "model_label", "manual_download"]


def _entry_for_file(path: Path) -> ModelEntry | None:
    """The registered model whose published file name is ``path``'s name, if any."""
    return next((entry for entry in MODELS.values() if entry.file_name == Path(path).name), None)


def get_model(
    name_or_path: str | os.PathLike,
    config: str | os.PathLike | ModelConfig | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> FirstOrderModel:
    """A ready model (eval mode) from a registered name or a checkpoint file.

    Args:
        name_or_path: ``"demo"``, a published name (``"vox"``, ``"taichi"``, ... see
            ``fomm-nb models``) or the path of a ``.pth.tar`` file.
        config: config name or YAML for a checkpoint file that stores none
            (published files named as published, e.g. ``vox-cpk.pth.tar``, need none).
        device: ``"cpu"``, ``"cuda"`` or ``None`` for the best available.
        progress: show a progress bar while downloading.
    """
    text = str(name_or_path)
    if text in MODELS:
        entry = MODELS[text]
        checkpoint = fetch_checkpoint(text, progress=progress)
        # Our own checkpoints carry their config; published ones need the registered one.
        return load_model(config or (None if entry.bundled else entry.config), checkpoint, device=device)
    path = Path(text)
    if not path.exists():
        known = ", ".join(MODELS)
        raise ConfigError(f"{text}: neither a known model ({known}) nor an existing checkpoint file")
    if config is None:
        entry = _entry_for_file(path)
        config = entry.config if entry is not None else None
    return load_model(config, path, device=device)


def model_table() -> str:
    """A text table of the known models: name, config, and whether each is present locally."""
    rows = [("name", "config", "file", "local")]
    for name, entry in MODELS.items():
        local = local_checkpoint_path(name)
        rows.append((name, Path(str(entry.config)).stem, entry.file_name, str(local) if local else "no (downloads on first use)"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)) for row in rows)


def config_of(name: str) -> ModelConfig:
    """The :class:`~fomm_nb.config.ModelConfig` of a registered model, without loading weights."""
    return load_config(MODELS[name].config)


@functools.lru_cache(maxsize=None)
def model_image_size(name: str) -> int:
    """The side of the square frames registered model ``name`` works on (its config, read once).

    Example:
        >>> model_image_size("demo"), model_image_size("vox")
        (64, 256)
    """
    return config_of(name).image_size


def model_label(name: str) -> str:
    """One line for a model menu: the name once, its frame size, what it shows, and whether it is on this machine.

    Example:
        >>> model_label("demo")
        'demo · 64×64 · cartoon faces, trained by fomm-nb on procedural videos · bundled, works offline'
        >>> model_label("vox").startswith("vox · 256×256 · VoxCeleb talking heads · ")
        True
    """
    entry = MODELS[name]
    size = model_image_size(name)
    if entry.bundled:
        where = "bundled, works offline"
    else:
        local = local_checkpoint_path(name)
        where = f"downloaded ({local.stat().st_size / 1e6:.0f} MB)" if local else "not downloaded: downloads on first use"
    return f"{name} · {size}×{size} · {entry.description} · {where}"


def manual_download(name: str) -> str:
    """What to do by hand when published model ``name`` cannot be downloaded: where from, and where to put it.

    Example:
        >>> manual_download("vox")  # doctest: +ELLIPSIS
        'download vox-cpk.pth.tar by hand from https://drive.google.com/file/d/1_v_xW1V52gZCZnXgh1Ap_gwA9YVIzUnS/view and put it in .../checkpoints'
    """
    entry = MODELS[name]
    return f"download {entry.file_name} by hand from {entry.sources[0].page(entry.file_name)} and put it in {cache_dir()}"
