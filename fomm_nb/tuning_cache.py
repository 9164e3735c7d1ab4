"""The autotuner's cache file: ``{key: entry}`` as JSON in the model cache folder, one entry per machine and model.

Example:
    >>> store = TuningCache(use=False)
    >>> store.get("any key") is None
    True
"""

import json
import warnings

from .download import cache_dir
from .errors import FommError

__all__ = ["CACHE_FILE", "TuningCache"]

#: The cache's file name, in :func:`~fomm_nb.download.cache_dir`.
CACHE_FILE = "autotune.json"


class TuningCache:
    """The tuning cache file (``None``: not used): ``{key: entry}``, read once, written entry by entry."""

    def __init__(self, use):
        self.path, self.notes = None, []
        if use:
            try:
                self.path = cache_dir() / CACHE_FILE
            except FommError as error:
                self._warn(f"tuning cache not used: {error}")

    def _warn(self, message):
        warnings.warn(message, stacklevel=4)
        self.notes.append(f"note: {message}")

    def read(self):
        if self.path is None or not self.path.is_file():
            return {}
        try:
            stored = json.loads(self.path.read_text())
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
            return stored
        except (OSError, UnicodeDecodeError, ValueError) as error:
            self._warn(f"{self.path}: not a tuning cache ({error}); tuning again")
            return {}

    def get(self, key):
        entry = self.read().get(key)
        return entry if isinstance(entry, dict) else None

    def put(self, key, entry):
        if self.path is None:
            return
        try:
            self.path.write_text(json.dumps({**self.read(), key: entry}, indent=1))
        except OSError as error:
            self._warn(f"{self.path}: cannot write the tuning cache ({error.strerror}); tuning again next time")
