"""The models fomm-nb knows by name: the published checkpoints and the bundled demo model.

Each published checkpoint has its file name as published, the config it was
trained with, and its download sources in fallback order: the authors'
Google Drive folder, then the GitHub release mirror that the community Colab
demo downloads from.

Example:
    >>> get_model_entry("vox").file_name
    'vox-cpk.pth.tar'
"""

from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

#: The authors' Google Drive folder holding every published checkpoint.
DRIVE_FOLDER_ID = "1PyQJmkdCsAkOYwUyaj_l-l0as-iLDgeH"
#: The release mirror used by the community Colab demo of the published code.
GITHUB_MIRROR = "https://github.com/graphemecluster/first-order-model-demo/releases/download/checkpoints"
#: Where the bundled model lives: ``checkpoints/`` at the repository root.
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


@dataclass(frozen=True)
class Source:
    """One place to download a file from: ``kind`` is ``"url"`` or ``"gdrive-folder"``."""

    kind: str
    location: str

    def describe(self, file_name):
        if self.kind == "gdrive-folder":
            return f"https://drive.google.com/drive/folders/{self.location} (file {file_name})"
        return self.location


@dataclass(frozen=True)
class ModelEntry:
    """A model known by name."""

    name: str
    file_name: str
    config: str  # a packaged config name or a YAML path
    description: str
    sources: tuple = ()
    sha256: str | None = None  # recorded after the first download when unknown
    size: int | None = None

    @property
    def bundled(self):
        return not self.sources


def _published(name, description, config=None, file_name=None):
    file_name = file_name or f"{name}-cpk.pth.tar"
    sources = (Source("gdrive-folder", DRIVE_FOLDER_ID), Source("url", f"{GITHUB_MIRROR}/{file_name}"))
    return ModelEntry(name, file_name, config or f"{name}-256", description, sources)


MODELS = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "demo", "fomm-nb-faces.pth.tar", str(BUNDLED_DIR / "fomm-nb-faces.yaml"),
            "bundled: procedural cartoon faces, 64x64, works offline",
        ),
        _published("vox", "VoxCeleb talking heads"),
        _published("vox-adv", "VoxCeleb talking heads, adversarial"),
        _published("taichi", "Tai-Chi-HD full bodies"),
        _published("taichi-adv", "Tai-Chi-HD full bodies, adversarial"),
        _published("mgif", "MGif cartoon animals"),
        _published("fashion", "fashion videos", file_name="fashion.pth.tar"),
        _published("bair", "BAIR robot arm"),
        _published("nemo", "UvA-Nemo smiles"),
    )
}


def get_model_entry(name):
    """The :class:`ModelEntry` called ``name``; a :class:`ConfigError` listing the known names otherwise."""
    if name not in MODELS:
        raise ConfigError(f"{name}: unknown model; known: {', '.join(MODELS)}")
    return MODELS[name]
