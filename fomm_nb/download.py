"""Download published checkpoints into a local cache, safely.

Each source of a model (see :mod:`fomm_nb.registry`) is tried in turn. A
download goes to a hidden temporary file in the cache folder and is checked:
its size and sha256 when the registry knows them, and that it starts like a
torch checkpoint (not an HTML page or a quota message). Only then is it
renamed to its final name, in one step (``os.replace``); a failed, cut-short,
corrupted or interrupted download leaves nothing behind. The sha256 of the
first good download is written beside it (``vox-cpk.pth.tar.sha256``, in
``sha256sum`` format) and every later use checks the file against it.

The cache is ``$FOMM_NB_HOME`` when set, else ``checkpoints/`` at the
repository root. Without network, put the file there by hand: the error
message says where to get it. A cache that is a file, or a folder that
cannot be written, is an :class:`~fomm_nb.errors.InputError` before any
download (a file already in a read-only cache is still used).

*Stalls*: each source says on stderr what is tried, at once. A server gets
``connect_timeout`` seconds to connect and ``timeout`` seconds for each next
piece (its answer, then every chunk); all sources together get
``total_timeout`` seconds. A network that accepts connections but never
answers ends, after ``timeout`` seconds per source, in one line that says so.

Example:
    >>> path = fetch_checkpoint("vox")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'vox-cpk.pth.tar'
    >>> fetch_checkpoint("vox", sources=["https://mirror.example.org/vox-cpk.pth.tar"])  # doctest: +SKIP
"""

import hashlib
import inspect
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from .arguments import check_range
from .errors import CheckpointError, DownloadError, InputError
from .outputs import writable, write_text_atomically
from .registry import BUNDLED_DIR, Source, as_source, get_model_entry
from .safe_load import looks_like_checkpoint
from .transfer import CHUNK, Limits, OutOfTime, Progress, Rejected, fetch_url, open_url, timeouts_explained
YANDEX_API = "https://cloud-api.yandex.net/v1/disk/public/resources/download"


__all__ = ["cache_dir", "local_checkpoint_path", "sha256_of", "recorded_sha256", "fetch_checkpoint"]


def _cache_root():
    home = os.environ.get("FOMM_NB_HOME")
    if not home:
        return BUNDLED_DIR
    root = Path(home).expanduser()
    if root.exists() and not root.is_dir():
        raise InputError(f"FOMM_NB_HOME={home}: is a file, not a folder; set FOMM_NB_HOME to a folder for "
                         "downloaded checkpoints, or unset it")
    return root


def _where(folder):
    return f"FOMM_NB_HOME={folder}" if os.environ.get("FOMM_NB_HOME") else f"the checkpoint folder {folder}"


def cache_dir() -> Path:
    """The folder downloads go to: ``$FOMM_NB_HOME`` if set, else ``checkpoints/``; created on demand.

    Raises :class:`~fomm_nb.errors.InputError` when it is a file, cannot be created or cannot be written.

    Example:
        >>> cache_dir().name
        'checkpoints'
    """
    folder = _cache_root()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{_where(folder)}: cannot create it ({error.strerror}); set FOMM_NB_HOME to a folder "
                         "you can write, for downloaded checkpoints") from None
    if not writable(folder):
        raise InputError(f"{_where(folder)}: the folder is not writable, so no checkpoint can be downloaded into "
                         "it; set FOMM_NB_HOME to a folder you can write")
    return folder


def local_checkpoint_path(name: str) -> Path | None:
    """The checkpoint file of model ``name`` if it is on this machine, else ``None``.

    Example:
        >>> local_checkpoint_path("demo").name
        'fomm-nb-faces.pth.tar'
    """
    entry = get_model_entry(name)
    path = (BUNDLED_DIR if entry.bundled else _cache_root()) / entry.file_name
    return path if path.is_file() else None


def sha256_of(path: str | os.PathLike) -> str:
    """The hex sha256 digest of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record_path(path):
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 recorded beside ``path`` when it was downloaded, or ``None``."""
    record = _record_path(Path(path))
    words = record.read_text().split() if record.is_file() else []
    return words[0] if words else None


def _record(path, digest):
    """Write ``<file>.sha256`` atomically (readable by ``sha256sum -c``); in a read-only cache, nothing."""
    if writable(path.parent):
        write_text_atomically(_record_path(path), f"{digest}  {path.name}\n")


def _check(path, entry):
    """The sha256 of a downloaded file after checking it is the checkpoint we want; :class:`Rejected` if not."""
    size = path.stat().st_size
    if size == 0:
        raise Rejected("empty file")
    if entry.size is not None and size != entry.size:
        raise Rejected(f"{size} bytes, expected {entry.size}")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not looks_like_checkpoint(head):
        raise Rejected(f"not a torch checkpoint (starts with {head!r}: a web page or an error message?)")
    digest = sha256_of(path)
    if entry.sha256 is not None and digest != entry.sha256:
        raise Rejected(f"sha256 mismatch: got {digest[:16]}..., expected {entry.sha256[:16]}...")
    return digest


def _call_gdown(function, **options):
    """Call a gdown function with the options its version accepts (gdown 5 has no timeout nor progress)."""
    accepted = inspect.signature(function).parameters
    return function(**{key: value for key, value in options.items() if key in accepted})


def _fetch_gdrive(file_id, file_name, out, limits, progress):
    import gdown

    with Progress(progress, file_name, limits) as bar:
        own_bar = "progress" in inspect.signature(gdown.download).parameters
        quiet = own_bar or not progress  # an older gdown draws its own bar
        _call_gdown(gdown.download, id=file_id, output=out, quiet=quiet, progress=bar, timeout=limits.read_timeout())


def _fetch_gdrive_folder(folder_id, file_name, out, limits, progress):
    import gdown

    listing = _call_gdown(gdown.download_folder, id=folder_id, skip_download=True, quiet=True,
                          timeout=limits.read_timeout())
    ids = [item.id for item in listing or () if PurePosixPath(item.path).name == file_name]
    if not ids:
        raise Rejected(f"the folder has no {file_name}")
    _fetch_gdrive(ids[0], file_name, out, limits, progress)


def _fetch_yandex(public_folder, file_name, out, limits, progress):
    query = urllib.parse.urlencode({"public_key": public_folder, "path": f"/{file_name}"})
    with open_url(f"{YANDEX_API}?{query}", limits) as response, timeouts_explained(limits):
        href = json.load(response)["href"]
    fetch_url(href, file_name, out, limits, progress)


_FETCHERS = {"url": fetch_url, "gdrive": _fetch_gdrive, "gdrive-folder": _fetch_gdrive_folder, "yandex": _fetch_yandex}


def _download(source, entry, final, limits, progress):
    """Download from one source into a temporary file, check it, and rename it to ``final``."""
    handle, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    temporary = Path(temporary)
    try:
        with os.fdopen(handle, "wb") as out:
            _FETCHERS[source.kind](source.location, entry.file_name, out, limits, progress)
        digest = _check(temporary, entry)
        os.chmod(temporary, 0o644)  # mkstemp makes it private to the owner
        os.replace(temporary, final)
        _record(final, digest)
    finally:  # also on KeyboardInterrupt: no partial file survives
        temporary.unlink(missing_ok=True)


def _reason(error, limit=160):
    """One short line saying why a source failed."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"unreachable ({error.reason})"
    if isinstance(error, ImportError):
        return f"{error.name or 'a module'} is not installed"
    text = " ".join(str(error).split())  # gdown's messages span several lines
    errno = re.search(r"\[Errno [^\]]*\][^)'\"]*", text)
    if isinstance(error, OSError) and errno:  # requests wraps the socket error in a long story
        return f"unreachable ({errno.group(0).strip()})"
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text if isinstance(error, Rejected) else f"{type(error).__name__}: {text}".rstrip(": ")


def _verified_cache(path, entry):
    """``path`` once it matches its recorded (or published) sha256.

    A file put there by hand has no record yet: it is checked like a download, then recorded.
    """
    recorded = recorded_sha256(path)
    if recorded is None and entry.sha256 is None:
        try:
            _record(path, _check(path, entry))
        except Rejected as error:
            raise CheckpointError(f"{path}: {error}; delete it and run again to download it afresh") from None
        return path
    digest = sha256_of(path)
    expected = {f"the one recorded in {_record_path(path).name}": recorded, "the published one": entry.sha256}
    for where, value in expected.items():
        if value is not None and digest != value:
            raise CheckpointError(
                f"{path}: its sha256 differs from {where}: the file changed or is damaged; "
                "delete it and run again to download it afresh"
            )
    return path


def fetch_checkpoint(
    name: str,
    *,
    sources: "Sequence[Source | str] | Source | str | None" = None,
    progress: bool = True,
    timeout: float = 30.0,
    connect_timeout: float = 10.0,
    total_timeout: float = 3600.0,
) -> Path:
    """The local path of model ``name``'s checkpoint, downloading it into :func:`cache_dir` if needed.

    Args:
        name: a registered model name (``"vox"``, ``"taichi"``, ... or ``"demo"``).
        sources: overrides the registered sources, tried in order: :class:`~fomm_nb.registry.Source`
            objects or URL strings (``https://``, ``file://``); one alone needs no list.
        progress: say on stderr which source is tried, and show a progress bar while downloading.
        timeout: seconds to wait for a server's answer, and then for each next piece of the file.
        connect_timeout: seconds to wait for a server to accept the connection.
        total_timeout: seconds for the whole download, all sources together.

    Raises:
        ConfigError: unknown model name (the message lists the known ones).
        DownloadError: every source failed; the message says why and how to get the file by hand.
        CheckpointError: a cached file no longer matches its recorded sha256, or the bundled model is missing.
        InputError: ``$FOMM_NB_HOME`` is a file or cannot be written (see :func:`cache_dir`).

    Example:
        >>> fetch_checkpoint("demo").name
        'fomm-nb-faces.pth.tar'
    """
    entry = get_model_entry(name)
    if entry.bundled:
        path = local_checkpoint_path(name)
        if path is None:
            raise CheckpointError(
                f"{BUNDLED_DIR / entry.file_name}: the bundled model is missing; restore it from the fomm-nb "
                f"repository, or train one with 'fomm-nb train --config {entry.config} --out runs/{name}' "
                f"and use runs/{name}/model.pth.tar"
            )
        return path
    final = _cache_root() / entry.file_name
    if final.is_file():  # also in a read-only cache
        return _verified_cache(final, entry)
    folder = cache_dir()
    for value, option in ((timeout, "timeout"), (connect_timeout, "connect_timeout"), (total_timeout, "total_timeout")):
        check_range(option, value, low=0.001)
    limits = Limits(connect_timeout, timeout, total_timeout, time.monotonic() + total_timeout)

    if isinstance(sources, (str, Source)):
        sources = [sources]
    tried = [as_source(source) for source in (entry.sources if sources is None else sources)]
    failures = []
    for source in tried:
        if progress:
            print(f"downloading {entry.file_name} from {source.label()} ...", file=sys.stderr, flush=True)
        try:
            _download(source, entry, final, limits, progress)
            return final
        except OutOfTime as error:
            failures.append(f"{source.label()}: {error}")
            break
        except Exception as error:  # any other failure of one source: fall through to the next
            failures.append(f"{source.label()}: {_reason(error)}")
    raise DownloadError(
        f"{entry.file_name}: could not download it ({'; '.join(failures) or 'no sources to try'}). "
        f"Download {entry.file_name} by hand from {entry.sources[0].page(entry.file_name)} and put it in {folder}"
    )
