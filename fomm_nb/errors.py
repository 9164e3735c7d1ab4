"""Exception classes that speak to the user.

Every error the library raises on bad input is a :class:`FommError`: its
message is one line that names the file (or argument) and the problem, so the
command line can print it as it is, without a traceback.

Example:
    >>> try:
    ...     raise MediaError("photo.png: not an image or a video")
    ... except FommError as error:
    ...     print(error)
    photo.png: not an image or a video
"""

__all__ = [
    "FommError",
    "ConfigError",
    "CheckpointError",
    "MediaError",
    "DownloadError",
    "InputError",
    "FaceNotFoundError",
]


class FommError(Exception):
    """Base class of every user-facing error of fomm_nb."""


class ConfigError(FommError, ValueError):
    """A model configuration is unknown, unreadable or inconsistent."""


class CheckpointError(FommError):
    """A checkpoint file is missing, damaged, unsafe or made for another config."""


class MediaError(FommError):
    """An image or video cannot be read or written."""


class DownloadError(FommError):
    """A published checkpoint could not be downloaded or verified."""


class InputError(FommError, ValueError):
    """An argument has the wrong type, shape, size or value."""


class OutputError(FommError, ValueError):
    """An output path would overwrite an input or another output, or cannot be written."""


class FaceNotFoundError(InputError):
    """No face was found where one was needed (a photo or video given to a face crop)."""
