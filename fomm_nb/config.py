"""Model configurations in the published YAML layout.

A config file has a ``model_params`` section with ``common_params``
(``num_kp``, ``num_channels``, ``estimate_jacobian``), ``kp_detector_params``,
``generator_params`` and ``discriminator_params``; the other sections
(``dataset_params``, ``train_params``, ...) are kept as they are.

The eight published configs ship with the package (``fomm_nb/configs``):
``load_config("vox")`` works offline.

Example:
    >>> config = load_config("vox")
    >>> config.name, config.num_kp, config.image_size
    ('vox-256', 10, 256)
"""

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_BATCH_SIZE",
    "CONFIG_ALIASES",
    "ModelConfig",
    "available_configs",
    "load_config",
    "save_config",
]

CONFIG_DIR = Path(__file__).with_name("configs")

#: Driving frames per batch, everywhere (engine, CLI, pipeline, evaluate). Measured by
#: benchmarks/batch_size.py on 2 CPU cores: 4 was fastest or tied for the bundled 64x64 model
#: (36 frames/s; 8: 35, 16: 33, 1: 21) and vox-256 (2.06 frames/s; 8 and 16: 2.04), and smaller
#: batches hold less memory. The apps paint single frames with batch_size=1.
DEFAULT_BATCH_SIZE = 4

#: Short model names and the published config each one uses.
CONFIG_ALIASES = {
    "vox": "vox-256",
    "vox-adv": "vox-adv-256",
    "taichi": "taichi-256",
    "taichi-adv": "taichi-adv-256",
    "mgif": "mgif-256",
    "bair": "bair-256",
    "fashion": "fashion-256",
    "nemo": "nemo-256",
}

_MODEL_SECTIONS = ("common_params", "kp_detector_params", "generator_params", "discriminator_params")
#: Top-level sections that must be mappings when present.
_MAPPING_SECTIONS = ("model_params", "dataset_params", "train_params", "animate_params")


def _whole(low):
    return f"a whole number >= {low}", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(low, high=None, open_low=True):
    def ok(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > low if open_low else v >= low) and (high is None or v <= high)

    return (f"a number in ({low}, {high}]" if high is not None else f"a number > {low}"), ok


_FLAG = ("true or false", lambda v: isinstance(v, bool))
_SCALES = ("a list of numbers in (0, 1]", lambda v: isinstance(v, list) and all(_number(0, 1)[1](x) for x in v))
_SIZE, _DEPTH = _whole(1), _whole(0)

#: Each model field: (what it must be, test, required). The fields a module does not take are refused by name.
_FIELDS = {
    "common_params": {"num_kp": (*_SIZE, True), "num_channels": (*_SIZE, False), "estimate_jacobian": (*_FLAG, False)},
    "kp_detector_params": {
        "block_expansion": (*_SIZE, True), "max_features": (*_SIZE, True), "num_blocks": (*_SIZE, True),
        "temperature": (*_number(0), True), "scale_factor": (*_number(0, 1), False),
        "single_jacobian_map": (*_FLAG, False), "pad": (*_DEPTH, False), "estimate_jacobian": (*_FLAG, False),
    },
    "generator_params": {
        "block_expansion": (*_SIZE, True), "max_features": (*_SIZE, True), "num_down_blocks": (*_DEPTH, True),
        "num_bottleneck_blocks": (*_DEPTH, True), "estimate_occlusion_map": (*_FLAG, False),
        "dense_motion_params": ("a mapping or null", lambda v: v is None or isinstance(v, dict), False), "estimate_jacobian": (*_FLAG, False),
    },
    "dense_motion_params": {
        "block_expansion": (*_SIZE, True), "max_features": (*_SIZE, True), "num_blocks": (*_SIZE, True),
        "scale_factor": (*_number(0, 1), False), "kp_variance": (*_number(0), False),
        "estimate_occlusion_map": (*_FLAG, False),
    },
    "discriminator_params": {
        "scales": (*_SCALES, False), "block_expansion": (*_SIZE, False), "max_features": (*_SIZE, False),
        "num_blocks": (*_SIZE, False), "sn": (*_FLAG, False), "use_kp": (*_FLAG, False),
        "kp_variance": (*_number(0), False),
    },
}
_WEIGHTS = ("a number or a list of numbers >= 0", lambda v: all(
    _number(0, open_low=False)[1](x) for x in (v if isinstance(v, list) else [v])))
_MILESTONES = ("a list of whole numbers >= 1", lambda v: isinstance(v, list) and all(_SIZE[1](x) for x in v))
# The training fields the trainer reads (train/trainer.py, TrainSettings.from_config), checked when present.
_FIELDS["train_params"] = {
    "num_steps": (*_SIZE, False), "batch_size": (*_SIZE, False), "num_epochs": (*_SIZE, False),
    "num_repeats": (*_SIZE, False), "checkpoint_freq": (*_SIZE, False), "step_milestones": (*_MILESTONES, False),
    "epoch_milestones": (*_MILESTONES, False), "scales": (*_SCALES, False), "separation_sigma": (*_number(0), False),
    **{f"lr_{part}": (*_number(0, open_low=False), False) for part in ("generator", "kp_detector", "discriminator")},
    **{name: ("a mapping (name: value lines)", lambda v: isinstance(v, dict), False)
       for name in ("loss_weights", "transform_params")},
}
_FIELDS["loss_weights"] = {name: (*_WEIGHTS, False) for name in (
    "reconstruction", "perceptual", "equivariance_value", "equivariance_jacobian", "keypoint_separation",
    "generator_gan", "discriminator_gan", "feature_matching")}
_FIELDS["transform_params"] = {"sigma_affine": (*_number(0, open_low=False), False),
                               "sigma_tps": (*_number(0, open_low=False), False), "points_tps": (*_SIZE, False)}
_OPEN_SECTIONS = ("discriminator_params", "train_params", "loss_weights", "transform_params")  # other fields: unread


def _check_section(name, section, where, label=None):
    """ConfigError unless every field of ``section`` (the fields ``_FIELDS[where]``; ``label`` names it in
    messages, ``where`` by default) has its type and range."""
    fields, label = _FIELDS[where], label or where
    if not isinstance(section, dict):
        raise ConfigError(f"{name}: {label} must be a mapping (name: value lines), got {_shown(section)}")
    for field, (wanted, ok, required) in fields.items():
        if field not in section:
            if required:
                raise ConfigError(f"{name}: {label} lacks {field} ({wanted})")
        elif not ok(section[field]):
            raise ConfigError(f"{name}: {label}.{field} must be {wanted}, got {_shown(section[field])}")
    unknown = sorted(set(section) - set(fields))
    if unknown and where not in _OPEN_SECTIONS:
        raise ConfigError(f"{name}: {label} has unknown fields {', '.join(map(str, unknown))}; known: {', '.join(fields)}")


def _shown(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _image_size(name, dataset):
    """The side of the square frames of ``dataset_params`` (``frame_shape`` or ``image_shape``; 256 when absent)."""
    key = "frame_shape" if "frame_shape" in dataset else "image_shape"
    shape = dataset.get(key, [256])
    good = isinstance(shape, list) and 1 <= len(shape) <= 3 and all(_SIZE[1](side) for side in shape)
    if not good:
        raise ConfigError(f"{name}: dataset_params.{key} must be a list like [256, 256, 3], got {_shown(shape)}")
    if len(shape) >= 2 and shape[0] != shape[1]:
        raise ConfigError(f"{name}: dataset_params.{key} must be square (the model works on square frames), got {shape}")
    return shape[0]


def _check_sizes(name, size, model_params):
    """ConfigError when an hourglass or the generator cannot halve the frames as often as the config asks."""
    checks = [("kp_detector_params", model_params["kp_detector_params"], "num_blocks")]
    dense = model_params["generator_params"].get("dense_motion_params")
    if dense is not None:
        checks.append(("generator_params.dense_motion_params", dense, "num_blocks"))
    checks.append(("generator_params", {**model_params["generator_params"], "scale_factor": 1}, "num_down_blocks"))
    for where, section, depth in checks:
        side = int(size * section.get("scale_factor", 1))
        if side % 2 ** section[depth] or side == 0:
            raise ConfigError(
                f"{name}: {where}.{depth}: {section[depth]} halvings of {side}x{side} frames do not come out even; "
                f"use fewer, or frames whose side divides by {2 ** section[depth]}"
            )


@dataclass
class ModelConfig:
    """A model's architecture (the ``model_params`` sections) plus the rest of its file.

    Attributes:
        name: the config's name (file stem), e.g. ``"vox-256"``.
        common_params, kp_detector_params, generator_params, discriminator_params:
            the published sections, as dicts.
        image_size: side of the square frames the model was trained on.
        extra: every other top-level section of the file (``train_params``, ...).
    """

    name: str
    common_params: dict
    kp_detector_params: dict
    generator_params: dict
    discriminator_params: dict = field(default_factory=dict)
    image_size: int = 256
    extra: dict = field(default_factory=dict)

    @property
    def num_kp(self) -> int:
        return self.common_params["num_kp"]

    @property
    def num_channels(self) -> int:
        return self.common_params.get("num_channels", 3)

    @property
    def estimate_jacobian(self) -> bool:
        return self.common_params.get("estimate_jacobian", False)

    @property
    def train_params(self) -> dict:
        return self.extra.get("train_params", {})

    @classmethod
    def from_dict(cls, document: dict, name: str = "custom") -> "ModelConfig":
        """Build from a parsed config file (a dict with ``model_params``).

        Every model field is checked for its type and range; a bad one is a
        :class:`~fomm_nb.errors.ConfigError` that names it.

        Example:
            >>> document = load_config("vox").to_dict()
            >>> document["model_params"]["common_params"]["num_kp"] = -1
            >>> ModelConfig.from_dict(document, "mine")
            Traceback (most recent call last):
            ...
            fomm_nb.errors.ConfigError: mine: common_params.num_kp must be a whole number >= 1, got -1
        """
        if not isinstance(document, dict) or "model_params" not in document:
            raise ConfigError(f"{name}: a config needs a 'model_params' section")
        for section in _MAPPING_SECTIONS:
            if section in document and not isinstance(document[section], dict):
                raise ConfigError(f"{name}: {section} must be a mapping (name: value lines), got {_shown(document[section])}")
        model_params = document["model_params"]
        missing = [s for s in _MODEL_SECTIONS[:3] if s not in model_params]
        if missing:
            raise ConfigError(f"{name}: 'model_params' lacks {', '.join(missing)}")
        sections = {s: model_params.get(s, {}) for s in _MODEL_SECTIONS}
        for section, value in sections.items():
            _check_section(name, value, section)
        dense = sections["generator_params"].get("dense_motion_params")
        if dense is not None:
            _check_section(name, dense, "dense_motion_params")
        train = document.get("train_params", {})
        _check_section(name, train, "train_params")
        for part in ("loss_weights", "transform_params"):
            _check_section(name, train.get(part, {}), part, f"train_params.{part}")
        image_size = _image_size(name, document.get("dataset_params", {}))
        _check_sizes(name, image_size, sections)
        extra = {k: copy.deepcopy(v) for k, v in document.items() if k != "model_params"}
        return cls(name=name, image_size=image_size, extra=extra, **copy.deepcopy(sections))

    def check_image_size(self, size: int) -> int:
        """``size`` if the model can work on frames of ``size`` x ``size``, else a ConfigError that says why.

        Example:
            >>> load_config("vox").check_image_size(100)
            Traceback (most recent call last):
            ...
            fomm_nb.errors.ConfigError: vox-256: kp_detector_params.num_blocks: 5 halvings of 25x25 frames do not come out even; use fewer, or frames whose side divides by 32
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"{self.name}: the image size must be a whole number >= 1, got {_shown(size)}")
        _check_sizes(self.name, size, {s: getattr(self, s) for s in _MODEL_SECTIONS})
        return size

    def to_dict(self) -> dict:
        """The config as a published-layout dict (what :func:`save_config` writes)."""
        document = copy.deepcopy(self.extra)
        document.setdefault("dataset_params", {})["frame_shape"] = [self.image_size, self.image_size, self.num_channels]
        document["model_params"] = {s: copy.deepcopy(getattr(self, s)) for s in _MODEL_SECTIONS}
        return document


def available_configs() -> list[str]:
    """Names of the configs that ship with the package, e.g. ``['bair-256', ...]``."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | os.PathLike | dict | ModelConfig) -> ModelConfig:
    """Load a config by short name (``"vox"``), config name (``"vox-256"``) or YAML path.

    A :class:`ModelConfig` or a published-layout dict is returned as a config too.
    Raises :class:`~fomm_nb.errors.ConfigError` for unknown names or bad files.
    """
    if isinstance(name_or_path, ModelConfig):
        return name_or_path
    if isinstance(name_or_path, dict):
        return ModelConfig.from_dict(name_or_path)
    text = str(name_or_path)
    config_name = CONFIG_ALIASES.get(text, text)
    packaged = CONFIG_DIR / f"{config_name}.yaml"
    path = packaged if packaged.is_file() else Path(text)
    if not path.is_file():
        if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
            raise ConfigError(f"{text}: no such config file")
        known = ", ".join(list(CONFIG_ALIASES) + available_configs())
        raise ConfigError(f"{text}: unknown config; known: {known}, or a path to a YAML file")
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{path}: not a readable YAML config ({first_line})") from None
    return ModelConfig.from_dict(document, name=path.stem)


def save_config(config: ModelConfig, path: str | os.PathLike) -> None:
    """Write ``config`` to ``path`` as YAML in the published layout."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
