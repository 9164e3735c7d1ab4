"""Load and save model weights: published checkpoints and our own.

A published checkpoint (``vox-cpk.pth.tar``, ...) is a dict with
``generator``, ``kp_detector``, ``discriminator``, ``optimizer_*`` and
``epoch``. An inference checkpoint written by
:func:`save_inference_checkpoint` holds only ``generator`` and
``kp_detector``, plus the ``config`` it was built from, so it loads without a
separate config file.

Files are always read with ``torch.load(..., weights_only=True)``: a file that
would run code when unpickled is refused.

Example:
    >>> model = load_model("vox")          # random weights, vox-256 architecture
    >>> model.kp_detector.num_kp
    10
"""

import os
import tempfile
from pathlib import Path

import torch

from .config import ModelConfig, load_config
from .errors import CheckpointError, ConfigError, InputError
from .model import FirstOrderModel, build_model
from .safe_load import load_checkpoint_file

__all__ = ["INFERENCE_PARTS", "DEVICE_TYPES", "resolve_device", "load_model", "save_inference_checkpoint"]

INFERENCE_PARTS = ("kp_detector", "generator")
#: The devices fomm-nb computes on.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _summarise(keys, limit=3):
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _likely_cause(part, expected, found):
    """A hint for the commonest mismatches between a checkpoint and a config."""
    if part == "kp_detector" and "jacobian.weight" in expected and "jacobian.weight" in found:
        want, have = expected["jacobian.weight"][0], found["jacobian.weight"].shape[0]
        if have == 4 and want != 4:
            return "the jacobian head has 4 channels: this is an mgif-style checkpoint, use single_jacobian_map: true (config mgif-256)"
        if want == 4 and have != 4:
            return f"the jacobian head has {have} channels: this checkpoint has one Jacobian per keypoint, drop single_jacobian_map"
    if part == "kp_detector" and "kp.weight" in found and "kp.weight" in expected:
        want, have = expected["kp.weight"][0], found["kp.weight"].shape[0]
        if want != have:
            return f"the checkpoint has {have} keypoints, the config {want}: set num_kp: {have}"
    if part == "kp_detector" and ("jacobian.weight" in found) != ("jacobian.weight" in expected):
        return "estimate_jacobian differs between checkpoint and config"
    if part == "discriminator":
        if any(k.endswith("weight_orig") for k in found) != any(k.endswith("weight_orig") for k in expected):
            return "spectral norm differs: toggle 'sn' in discriminator_params"
        return "the discriminator differs (use_kp or scales); it is not needed to animate"
    return "the checkpoint was made for another config"


def _check_weights(state, part, source_name):
    """CheckpointError unless ``state`` maps names to tensors of finite numbers (the message names the tensor)."""
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{source_name}: {part} has a key {key!r} that is not a parameter name")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source_name}: {part}.{key} is a {type(value).__name__}, not a tensor")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{source_name}: {part}.{key} holds NaN or infinite values; the weights are damaged")


def _stored_config(state, source_name):
    """The :class:`ModelConfig` stored in the checkpoint dict ``state``."""
    document = state.get("config")
    if document is None:
        raise ConfigError(f"{source_name}: no config given and none stored in the checkpoint")
    if not isinstance(document, dict):
        raise CheckpointError(f"{source_name}: its config entry is a {type(document).__name__}, not a mapping")
    return ModelConfig.from_dict(document, name=str(document.get("name", Path(source_name).stem)))


def _load_part(module, part, state, source_name, config_name):
    _check_weights(state, part, source_name)
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    wrong_shape = [k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k]]
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"missing {_summarise(missing)}")
        if unexpected:
            details.append(f"unexpected {_summarise(unexpected)}")
        if wrong_shape:
            details.append(f"other shapes for {_summarise(wrong_shape)}")
        cause = _likely_cause(part, {k: v for k, v in expected.items()}, state)
        raise CheckpointError(
            f"{source_name}: {part} does not fit config {config_name} ({'; '.join(details)}): {cause}"
        )
    module.load_state_dict(state, strict=True)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device` that exists here; ``None`` picks CUDA when available, else CPU.

    Raises :class:`~fomm_nb.errors.InputError` for a name torch does not know,
    a device fomm-nb cannot compute on (``meta``, ...), or a GPU this machine lacks.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("meta")
        Traceback (most recent call last):
        ...
        fomm_nb.errors.InputError: device 'meta': fomm-nb computes on cpu, cuda or mps, not meta
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"device {device!r}: not a device name; use cpu, cuda or cuda:N") from None
    if parsed.type not in DEVICE_TYPES:
        raise InputError(f"device {str(device)!r}: fomm-nb computes on {', '.join(DEVICE_TYPES[:-1])} or mps, "
                         f"not {parsed.type}")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {parsed}: CUDA is not available on this machine; use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise InputError(f"device {parsed}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {parsed}: MPS is not available on this machine; use --device cpu")
    return parsed


def load_model(
    config: "str | os.PathLike | dict | ModelConfig | None" = None,
    checkpoint: "str | os.PathLike | dict | None" = None,
    device: str | torch.device | None = None,
    with_discriminator: bool = False,
) -> FirstOrderModel:
    """Build a model from ``config`` and load ``checkpoint`` into it, in eval mode.

    Args:
        config: a config name (``"vox"``), YAML path, dict or :class:`ModelConfig`;
            ``None`` uses the config stored in ``checkpoint``.
        checkpoint: a ``.pth.tar`` path (published or inference layout), an
            already loaded dict, or ``None`` for random weights.
        device: ``"cpu"``, ``"cuda"``, ... or ``None`` for the best available.
        with_discriminator: also build (and load, if present) the discriminator.

    Raises:
        CheckpointError: missing, damaged or unsafe file, values that are not
            tensors, NaN or infinite weights (the message names the tensor), or
            weights that do not fit the config (it names the keys and the likely cause).
        InputError: a device that does not exist here (:func:`resolve_device`).
    """
    device = resolve_device(device)
    source_name = "checkpoint"
    state = None
    if checkpoint is not None:
        if isinstance(checkpoint, dict):
            state = checkpoint
        else:
            source_name = str(checkpoint)
            state = load_checkpoint_file(checkpoint)
        missing_parts = [p for p in INFERENCE_PARTS if not isinstance(state.get(p), dict)]
        if missing_parts:
            raise CheckpointError(f"{source_name}: not a FOMM checkpoint (no {' or '.join(missing_parts)} weights)")
    if config is None:
        if state is None:
            raise ConfigError("no config given and no checkpoint to read one from")
        config = _stored_config(state, source_name)
    config = load_config(config)

    model = build_model(config, with_discriminator=with_discriminator)
    if state is not None:
        for part in INFERENCE_PARTS:
            _load_part(getattr(model, part), part, state[part], source_name, config.name)
        if with_discriminator and isinstance(state.get("discriminator"), dict):
            _load_part(model.discriminator, "discriminator", state["discriminator"], source_name, config.name)
    return model.to(device).eval()


def save_inference_checkpoint(model: FirstOrderModel, path: "str | os.PathLike") -> Path:
    """Write ``model``'s keypoint detector and generator, with its config, to ``path``.

    No optimiser state and no discriminator: the file holds what animation
    needs. The write is atomic (temporary file, then rename).
    """
    path = Path(path)
    document = model.config.to_dict()
    document["name"] = model.config.name
    state = {part: {k: v.detach().cpu() for k, v in getattr(model, part).state_dict().items()} for part in INFERENCE_PARTS}
    state["config"] = document
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.chmod(temporary, 0o644)  # mkstemp creates files readable by the owner only
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
