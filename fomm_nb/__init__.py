"""fomm-nb: the First Order Motion Model for image animation, for notebooks.

The public API keeps the published call conventions:

    >>> import fomm_nb
    >>> config = fomm_nb.load_config("vox")
    >>> model = fomm_nb.load_model(config, device="cpu")  # add checkpoint="vox-cpk.pth.tar"
    >>> kp = model.kp_detector(image)                       # doctest: +SKIP
    >>> out = model.generator(source, kp_source=kp, kp_driving=kp)  # doctest: +SKIP
"""

from .animate import AnimationEngine, MotionOptions, animate
from .checkpoints import load_model, save_inference_checkpoint
from .config import ModelConfig, load_config
from .errors import CheckpointError, ConfigError, DownloadError, FommError, InputError, MediaError
from .motion import freeze_keypoints, movement_scale_ratio, normalize_kp

__version__ = "0.1.0"

__all__ = [
    "AnimationEngine",
    "MotionOptions",
    "animate",
    "load_model",
    "save_inference_checkpoint",
    "ModelConfig",
    "load_config",
    "normalize_kp",
    "freeze_keypoints",
    "movement_scale_ratio",
    "FommError",
    "ConfigError",
    "CheckpointError",
    "MediaError",
    "DownloadError",
    "InputError",
]
