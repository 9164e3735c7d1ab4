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
message says where to get it.

Example:
    >>> path = fetch_checkpoint("vox")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'vox-cpk.pth.tar'
    >>> fetch_checkpoint("vox", sources=["https://mirror.example.org/vox-cpk.pth.tar"])  # doctest: +SKIP
"""

import hashlib
import http.client
import inspect
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from .errors import CheckpointError, DownloadError
from .registry import BUNDLED_DIR, Source, as_source, get_model_entry
from .safe_load import looks_like_checkpoint

CHUNK = 1 << 20
USER_AGENT = "fomm-nb/0.1 (checkpoint downloader)"
YANDEX_API = "https://cloud-api.yandex.net/v1/disk/public/resources/download"


class _Rejected(Exception):
    """A source answered, but not with the file we want (cut short, wrong size, not a checkpoint...)."""


def _cache_root():
    home = os.environ.get("FOMM_NB_HOME")
    return Path(home).expanduser() if home else BUNDLED_DIR


def cache_dir():
    """The folder downloads go to: ``$FOMM_NB_HOME`` if set, else ``checkpoints/``; created on demand.

    Example:
        >>> cache_dir().name
        'checkpoints'
    """
    folder = _cache_root()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def local_checkpoint_path(name):
    """The checkpoint file of model ``name`` if it is on this machine, else ``None``.

    Example:
        >>> local_checkpoint_path("demo").name
        'fomm-nb-faces.pth.tar'
    """
    entry = get_model_entry(name)
    path = (BUNDLED_DIR if entry.bundled else _cache_root()) / entry.file_name
    return path if path.is_file() else None


def sha256_of(path):
    """The hex sha256 digest of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record_path(path):
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path):
    """The sha256 recorded beside ``path`` when it was downloaded, or ``None``."""
    record = _record_path(Path(path))
    words = record.read_text().split() if record.is_file() else []
    return words[0] if words else None


def _record(path, digest):
    """Write ``<file>.sha256`` atomically (readable by ``sha256sum -c``)."""
    record = _record_path(path)
    temporary = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    temporary.write_text(f"{digest}  {path.name}\n")
    os.replace(temporary, record)


def _check(path, entry):
    """The sha256 of a downloaded file after checking it is the checkpoint we want; :class:`_Rejected` if not."""
    size = path.stat().st_size
    if size == 0:
        raise _Rejected("empty file")
    if entry.size is not None and size != entry.size:
        raise _Rejected(f"{size} bytes, expected {entry.size}")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not looks_like_checkpoint(head):
        raise _Rejected(f"not a torch checkpoint (starts with {head!r}: a web page or an error message?)")
    digest = sha256_of(path)
    if entry.sha256 is not None and digest != entry.sha256:
        raise _Rejected(f"sha256 mismatch: got {digest[:16]}..., expected {entry.sha256[:16]}...")
    return digest


class _Progress:
    """A tqdm byte counter fed with ``(bytes so far, total or None)``; silent when disabled."""

    def __init__(self, enabled, label):
        self.enabled, self.label, self.bar = enabled, label, None

    def __call__(self, done, total=None):
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=self.label)
        self.bar.update(done - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.close()


def _open(url, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)


def _fetch_url(url, file_name, out, timeout, progress):
    """Stream ``url`` into ``out``; :class:`_Rejected` if the body is shorter than announced."""
    with _open(url, timeout) as response, _Progress(progress, file_name) as bar:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done = 0
        while True:
            try:
                chunk = response.read(CHUNK)
            except http.client.IncompleteRead as error:
                raise _Rejected(f"the connection closed after {done + len(error.partial)} of {total} bytes") from None
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            bar(done, total)
    if total is not None and done != total:
        raise _Rejected(f"the connection closed after {done} of {total} bytes")


def _call_gdown(function, **options):
    """Call a gdown function with the options its version accepts (gdown 5 has no timeout nor progress)."""
    accepted = inspect.signature(function).parameters
    return function(**{key: value for key, value in options.items() if key in accepted})


def _fetch_gdrive(file_id, file_name, out, timeout, progress):
    import gdown

    with _Progress(progress, file_name) as bar:
        own_bar = "progress" in inspect.signature(gdown.download).parameters
        quiet = own_bar or not progress  # an older gdown draws its own bar
        _call_gdown(gdown.download, id=file_id, output=out, quiet=quiet, progress=bar, timeout=timeout)


def _fetch_gdrive_folder(folder_id, file_name, out, timeout, progress):
    import gdown

    listing = _call_gdown(gdown.download_folder, id=folder_id, skip_download=True, quiet=True, timeout=timeout)
    ids = [item.id for item in listing or () if PurePosixPath(item.path).name == file_name]
    if not ids:
        raise _Rejected(f"the folder has no {file_name}")
    _fetch_gdrive(ids[0], file_name, out, timeout, progress)


def _fetch_yandex(public_folder, file_name, out, timeout, progress):
    query = urllib.parse.urlencode({"public_key": public_folder, "path": f"/{file_name}"})
    with _open(f"{YANDEX_API}?{query}", timeout) as response:
        href = json.load(response)["href"]
    _fetch_url(href, file_name, out, timeout, progress)


_FETCHERS = {"url": _fetch_url, "gdrive": _fetch_gdrive, "gdrive-folder": _fetch_gdrive_folder, "yandex": _fetch_yandex}


def _download(source, entry, final, timeout, progress):
    """Download from one source into a temporary file, check it, and rename it to ``final``."""
    handle, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    temporary = Path(temporary)
    try:
        with os.fdopen(handle, "wb") as out:
            _FETCHERS[source.kind](source.location, entry.file_name, out, timeout, progress)
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
    return text if isinstance(error, _Rejected) else f"{type(error).__name__}: {text}".rstrip(": ")


def _verified_cache(path, entry):
    """``path`` once it matches its recorded (or published) sha256.

    A file put there by hand has no record yet: it is checked like a download, then recorded.
    """
    recorded = recorded_sha256(path)
    if recorded is None and entry.sha256 is None:
        try:
            _record(path, _check(path, entry))
        except _Rejected as error:
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


def fetch_checkpoint(name, *, sources=None, progress=True, timeout=30.0):
    """The local path of model ``name``'s checkpoint, downloading it into :func:`cache_dir` if needed.

    Args:
        name: a registered model name (``"vox"``, ``"taichi"``, ... or ``"demo"``).
        sources: overrides the registered sources, tried in order: :class:`~fomm_nb.registry.Source`
            objects or URL strings (``https://``, ``file://``); one alone needs no list.
        progress: show a progress bar while downloading.
        timeout: seconds to wait for a server to connect or to send more bytes.

    Raises:
        ConfigError: unknown model name (the message lists the known ones).
        DownloadError: every source failed; the message says why and how to get the file by hand.
        CheckpointError: a cached file no longer matches its recorded sha256, or the bundled model is missing.

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
    folder = cache_dir()
    final = folder / entry.file_name
    if final.is_file():
        return _verified_cache(final, entry)

    if isinstance(sources, (str, Source)):
        sources = [sources]
    tried = [as_source(source) for source in (entry.sources if sources is None else sources)]
    failures = []
    for source in tried:
        try:
            _download(source, entry, final, timeout, progress)
            return final
        except Exception as error:  # any failure of one source: fall through to the next
            failures.append(f"{source.label()}: {_reason(error)}")
    raise DownloadError(
        f"{entry.file_name}: could not download it ({'; '.join(failures) or 'no sources to try'}). "
        f"Download {entry.file_name} by hand from {entry.sources[0].page(entry.file_name)} and put it in {folder}"
    )
