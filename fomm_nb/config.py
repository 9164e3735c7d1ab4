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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

CONFIG_DIR = Path(__file__).with_name("configs")

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
    def num_kp(self):
        return self.common_params["num_kp"]

    @property
    def num_channels(self):
        return self.common_params.get("num_channels", 3)

    @property
    def estimate_jacobian(self):
        return self.common_params.get("estimate_jacobian", False)

    @property
    def train_params(self):
        return self.extra.get("train_params", {})

    @classmethod
    def from_dict(cls, document, name="custom"):
        """Build from a parsed config file (a dict with ``model_params``)."""
        if not isinstance(document, dict) or not isinstance(document.get("model_params"), dict):
            raise ConfigError(f"{name}: a config needs a 'model_params' section")
        model_params = document["model_params"]
        missing = [s for s in _MODEL_SECTIONS[:3] if s not in model_params]
        if missing:
            raise ConfigError(f"{name}: 'model_params' lacks {', '.join(missing)}")
        if "num_kp" not in model_params["common_params"]:
            raise ConfigError(f"{name}: 'common_params' lacks num_kp")
        dataset = document.get("dataset_params") or {}
        shape = dataset.get("frame_shape") or dataset.get("image_shape") or [256]
        extra = {k: copy.deepcopy(v) for k, v in document.items() if k != "model_params"}
        return cls(
            name=name,
            image_size=int(shape[0]),
            extra=extra,
            **{s: copy.deepcopy(model_params.get(s) or {}) for s in _MODEL_SECTIONS},
        )

    def to_dict(self):
        """The config as a published-layout dict (what :func:`save_config` writes)."""
        document = copy.deepcopy(self.extra)
        document.setdefault("dataset_params", {})["frame_shape"] = [self.image_size, self.image_size, self.num_channels]
        document["model_params"] = {s: copy.deepcopy(getattr(self, s)) for s in _MODEL_SECTIONS}
        return document


def available_configs():
    """Names of the configs that ship with the package, e.g. ``['bair-256', ...]``."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path):
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


def save_config(config, path):
    """Write ``config`` to ``path`` as YAML in the published layout."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
