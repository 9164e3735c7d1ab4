"""fomm-nb: the First Order Motion Model for image animation, for notebooks.

The public API keeps the published call conventions:

    >>> import fomm_nb
    >>> model = fomm_nb.get_model("demo")  # the bundled model, offline; or "vox", ... or a .pth.tar file
    >>> config = fomm_nb.load_config("vox")
    >>> vox = fomm_nb.load_model(config, device="cpu")  # random weights; add checkpoint="vox-cpk.pth.tar"
    >>> kp = model.kp_detector(image)                       # doctest: +SKIP
    >>> out = model.generator(source, kp_source=kp, kp_driving=kp)  # doctest: +SKIP
"""

from .animate import AnimationEngine, animate
from .checkpoints import load_model, save_inference_checkpoint
from .config import DEFAULT_BATCH_SIZE, ModelConfig, load_config
from .errors import CheckpointError, ConfigError, DownloadError, FaceNotFoundError, FommError, InputError, MediaError
from .hub import get_model
from .motion import MotionOptions, freeze_keypoints, movement_scale_ratio, normalize_kp, transfer_motion
from .types import GeneratorOutput, Keypoints

__version__ = "0.1.0"

__all__ = [
    "AnimationEngine",
    "MotionOptions",
    "transfer_motion",
    "DEFAULT_BATCH_SIZE",
    "animate",
    "get_model",
    "load_model",
    "save_inference_checkpoint",
    "ModelConfig",
    "load_config",
    "normalize_kp",
    "freeze_keypoints",
    "movement_scale_ratio",
    "Keypoints",
    "GeneratorOutput",
    "FommError",
    "ConfigError",
    "CheckpointError",
    "MediaError",
    "DownloadError",
    "InputError",
    "FaceNotFoundError",
]
