"""The models fomm-nb knows by name: the published checkpoints and the bundled demo model.

Each published checkpoint keeps its file name as published, names the config
it was trained with (a ``fomm_nb/configs/*.yaml``) and lists its download
sources in fallback order: the authors' Google Drive (the file's own id when
public material gives it, then the published folder, where the file is found
by name at run time), the GitHub release mirror that the Colab demo linked
from the authors' README downloads from, and the authors' Yandex Disk folder.
Sizes and sha256 digests are not published: they are ``None`` until known, and
the downloader records the digest of the first good download.

Example:
    >>> entry = get_model_entry("vox")
    >>> entry.file_name, entry.config
    ('vox-cpk.pth.tar', 'vox-256')
    >>> [source.kind for source in entry.sources]
    ['gdrive', 'gdrive-folder', 'url', 'yandex']
"""

import difflib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .errors import ConfigError, InputError

__all__ = [
    "BUNDLED_DIR",
    "DRIVE_FOLDER_ID",
    "YANDEX_FOLDER",
    "GITHUB_MIRROR",
    "SOURCE_KINDS",
    "SAMPLES",
    "SAMPLE_SOURCE",
    "SAMPLE_DRIVING",
    "Source",
    "as_source",
    "ModelEntry",
    "MODELS",
    "get_model_entry",
]

#: ``checkpoints/`` at the repository root, beside the package: the bundled model lives here.
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
#: The authors' Google Drive folder with every published checkpoint (README of first-order-model).
DRIVE_FOLDER_ID = "1PyQJmkdCsAkOYwUyaj_l-l0as-iLDgeH"
#: The authors' Yandex Disk folder, the README's second link.
YANDEX_FOLDER = "https://yadi.sk/d/lEw8uRm140L_eQ"
#: The release the Colab demo of the authors' README downloads ``<file name>`` from.
GITHUB_MIRROR = "https://github.com/graphemecluster/first-order-model-demo/releases/download/checkpoints"

SOURCE_KINDS = ("url", "gdrive", "gdrive-folder", "yandex")

#: The bundled sample that the demo, the try-it app and the notebooks start from
#: (rendered by ``scripts/make-samples.py``): a photo and a driving video, both 64x64.
SAMPLES = Path(__file__).with_name("samples")
SAMPLE_SOURCE = SAMPLES / "face.png"
SAMPLE_DRIVING = SAMPLES / "driving.mp4"


@dataclass(frozen=True)
class Source:
    """One place a checkpoint can be downloaded from.

    ``kind`` says what ``location`` is: ``"url"`` the file's http(s) or file
    URL; ``"gdrive"`` a Google Drive file id; ``"gdrive-folder"`` a Drive
    folder id, where the file is found by name; ``"yandex"`` a public Yandex
    Disk folder link, where the file is found by name.

    Example:
        >>> Source("gdrive-folder", DRIVE_FOLDER_ID).page("vox-cpk.pth.tar")
        'https://drive.google.com/drive/folders/1PyQJmkdCsAkOYwUyaj_l-l0as-iLDgeH'
        >>> as_source("https://example.org/vox-cpk.pth.tar")
        Source(kind='url', location='https://example.org/vox-cpk.pth.tar')
    """

    kind: str
    location: str

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise InputError(f"source kind {self.kind!r}: unknown; use one of {', '.join(SOURCE_KINDS)}")

    def page(self, file_name: str) -> str:
        """A link a person can open in a browser to download ``file_name`` from this source."""
        if self.kind == "gdrive":
            return f"https://drive.google.com/file/d/{self.location}/view"
        if self.kind == "gdrive-folder":
            return f"https://drive.google.com/drive/folders/{self.location}"
        return self.location

    def label(self) -> str:
        """A short name for this source in error messages."""
        return {
            "gdrive": f"Google Drive file {self.location}",
            "gdrive-folder": "Google Drive folder",
            "yandex": "Yandex Disk folder",
        }.get(self.kind, self.location)


def as_source(value: Source | str | Path) -> Source:
    """``value`` as a :class:`Source`: a Source stays as it is, a string is a URL."""
    return value if isinstance(value, Source) else Source("url", str(value))


@dataclass(frozen=True)
class ModelEntry:
    """A model known by name.

    ``config`` is a packaged config name (``"vox-256"``) or a YAML path;
    ``size`` (bytes) and ``sha256`` are checked after a download when known.
    A ``bundled`` model ships with fomm-nb and is never downloaded.
    """

    name: str
    file_name: str
    config: str
    description: str
    sources: tuple[Source, ...] = ()
    size: int | None = None
    sha256: str | None = None
    bundled: bool = False


def _published(name, description, drive_file_id=None, file_name=None):
    """An entry for a published checkpoint, with its sources in fallback order."""
    file_name = file_name or f"{name}-cpk.pth.tar"
    sources = (Source("gdrive", drive_file_id),) if drive_file_id else ()
    sources += (
        Source("gdrive-folder", DRIVE_FOLDER_ID),
        Source("url", f"{GITHUB_MIRROR}/{file_name}"),
        Source("yandex", YANDEX_FOLDER),
    )
    return ModelEntry(name, file_name, f"{name}-256", description, sources)


#: Every known model by name, in the order to show them: the bundled one first.
MODELS = MappingProxyType({
    entry.name: entry
    for entry in (
        ModelEntry(
            "demo", "fomm-nb-faces.pth.tar", str(BUNDLED_DIR / "fomm-nb-faces.yaml"),
            "cartoon faces, trained by fomm-nb on procedural videos", bundled=True,
        ),
        _published("vox", "VoxCeleb talking heads", drive_file_id="1_v_xW1V52gZCZnXgh1Ap_gwA9YVIzUnS"),
        _published("vox-adv", "VoxCeleb talking heads, trained with an adversarial loss",
                   drive_file_id="1L8P-hpBhZi8Q_1vP2KlQ4N6dvlzpYBvZ"),
        _published("taichi", "Tai-Chi-HD: full bodies doing tai chi"),
        _published("taichi-adv", "Tai-Chi-HD: full bodies, trained with an adversarial loss"),
        _published("mgif", "MGif: cartoon animals walking and running"),
        _published("fashion", "Fashion: people in clothes turning on a catwalk", file_name="fashion.pth.tar"),
        _published("bair", "BAIR: a robot arm pushing objects"),
        _published("nemo", "UvA-Nemo: faces smiling"),
    )
})


def get_model_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` called ``name``.

    Raises :class:`~fomm_nb.errors.ConfigError` for an unknown name, listing
    the known ones.

    Example:
        >>> get_model_entry("fashion").file_name
        'fashion.pth.tar'
    """
    if name in MODELS:
        return MODELS[name]
    close = difflib.get_close_matches(str(name), MODELS, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ConfigError(f"{name}: unknown model; {hint}known models: {', '.join(MODELS)}")
