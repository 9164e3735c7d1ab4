"""Images and videos in and out: reading, writing, fitting to the model, audio, tensors.

One idea per module, read in this order:

- :mod:`~fomm_nb.media.files`: checks before reading or writing; writes that appear whole or not at all.
- :mod:`~fomm_nb.media.images`: images as ``(H, W, 3)`` float32 arrays in [0, 1] (:func:`read_image`, :func:`write_image`).
- :mod:`~fomm_nb.media.ffmpeg`: running the ffmpeg binary, probing and decoding video files.
- :mod:`~fomm_nb.media.reading`: videos streamed one frame at a time (:func:`open_video`, :func:`read_video`).
- :mod:`~fomm_nb.media.writing`: mp4, webm and GIF out (:class:`VideoWriter`, :func:`write_video`).
- :mod:`~fomm_nb.media.audio`: the driving video's sound on the result (:func:`mux_audio`).
- :mod:`~fomm_nb.media.framing`: frames brought to the model's size, crops, side by side (:func:`fit_frame`).
- :mod:`~fomm_nb.media.tensors`: frames to tensors and back (:func:`frames_to_tensor`, :func:`tensor_to_frames`).

*Files appear whole or not at all*; *errors* are :class:`~fomm_nb.errors.MediaError`
with one line that names the file and the problem, e.g. ``clip.mp4: the video has no frames``.

Example:
    >>> import numpy as np
    >>> frames = np.random.rand(8, 64, 64, 3).astype(np.float32)
    >>> write_video("clip.mp4", frames, fps=25)
    PosixPath('clip.mp4')
    >>> with open_video("clip.mp4") as reader:
    ...     print(reader.fps, reader.size, reader.num_frames)
    ...     model_input = frames_to_tensor([fit_frame(frame, 256) for frame in reader])
    25.0 (64, 64) 8
    >>> model_input.shape
    torch.Size([8, 3, 256, 256])
"""

from .audio import has_audio, mux_audio
from .ffmpeg import DEFAULT_FPS
from .framing import crop_box, fit_frame, side_by_side
from .images import IMAGE_SUFFIXES, read_image, write_image
from .reading import VideoReader, open_video, read_video
from .tensors import frames_to_tensor, tensor_to_frames, to_numpy, to_tensor
from .writing import VIDEO_FORMATS, VideoWriter, write_video

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_SUFFIXES",
    "VIDEO_FORMATS",
    "read_image",
    "write_image",
    "VideoReader",
    "open_video",
    "read_video",
    "VideoWriter",
    "write_video",
    "has_audio",
    "mux_audio",
    "fit_frame",
    "crop_box",
    "side_by_side",
    "frames_to_tensor",
    "tensor_to_frames",
    "to_tensor",
    "to_numpy",
]
