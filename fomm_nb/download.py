"""Download published checkpoints into a cache, safely.

A file is downloaded to a temporary name in the cache folder, checked (size
and sha256 when known, and that it looks like a torch checkpoint), then
renamed into place in one step: a failed, interrupted or corrupted download
never leaves a file under the final name. The sha256 of the first good
download is recorded in ``sha256.json`` and checked on every later use.

The cache is ``$FOMM_NB_HOME`` when set, else ``checkpoints/cache`` in the
repository.

Example:
    >>> path = fetch_checkpoint("vox")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'vox-cpk.pth.tar'
"""

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .errors import CheckpointError, DownloadError
from .registry import BUNDLED_DIR, Source, get_model_entry

CHUNK = 1 << 20
_CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")  # torch zip format, or a legacy pickle


def cache_dir():
    """The folder downloads go to (created on demand)."""
    folder = Path(os.environ.get("FOMM_NB_HOME") or BUNDLED_DIR / "cache")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def local_checkpoint_path(name):
    """The checkpoint file of model ``name`` if it is on this machine, else ``None``."""
    entry = get_model_entry(name)
    folder = BUNDLED_DIR if entry.bundled else Path(os.environ.get("FOMM_NB_HOME") or BUNDLED_DIR / "cache")
    path = folder / entry.file_name
    return path if path.is_file() else None


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _recorded_hashes(folder):
    record = folder / "sha256.json"
    return json.loads(record.read_text()) if record.is_file() else {}


def _record_hash(folder, file_name, digest):
    hashes = _recorded_hashes(folder)
    hashes[file_name] = digest
    temporary = folder / "sha256.json.tmp"
    temporary.write_text(json.dumps(hashes, indent=2, sort_keys=True))
    temporary.replace(folder / "sha256.json")


def _download_url(url, target, timeout, progress):
    """Stream ``url`` into the open file ``target``; raise if the body is shorter than announced."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        expected = int(response.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=expected, unit="B", unit_scale=True, desc=Path(url).name)
        received = 0
        try:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (ConnectionError, OSError) as error:  # a body cut short
                    raise OSError(f"connection lost after {received} bytes ({error})") from None
                if not chunk:
                    break
                target.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and received != expected:
        raise OSError(f"incomplete: {received} of {expected} bytes")


def _download_drive_folder(folder_id, file_name, target, progress):
    import gdown

    listing = gdown.download_folder(id=folder_id, skip_download=True, quiet=True)
    file_id = next((item.id for item in listing or [] if Path(item.path).name == file_name), None)
    if file_id is None:
        raise OSError(f"{file_name} is not in the folder")
    gdown.download(id=file_id, output=target, quiet=not progress)


def _fetch_one(source, file_name, target_path, timeout, progress):
    if source.kind == "url":
        with open(target_path, "wb") as target:
            _download_url(source.location, target, timeout, progress)
    elif source.kind == "gdrive-folder":
        _download_drive_folder(source.location, file_name, str(target_path), progress)
    else:
        raise OSError(f"unknown source kind {source.kind!r}")


def _check_download(path, entry):
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise OSError(f"size {size} bytes, expected {entry.size}")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head.startswith(_CHECKPOINT_MAGIC):
        raise OSError("not a torch checkpoint (an HTML page or a quota message?)")
    if entry.sha256 is not None and sha256_of(path) != entry.sha256:
        raise OSError("sha256 differs from the published one")


def _as_source(source):
    return source if isinstance(source, Source) else Source("url", str(source))


def fetch_checkpoint(name, sources=None, progress=True, timeout=60):
    """The local path of model ``name``'s checkpoint, downloading it into the cache if needed.

    Args:
        sources: override the registered sources (URLs or :class:`Source`), tried in order.

    Raises:
        DownloadError: every source failed; the message says how to get the file by hand.
        CheckpointError: a cached file no longer matches its recorded sha256.
    """
    entry = get_model_entry(name)
    if entry.bundled:
        path = local_checkpoint_path(name)
        if path is None:
            raise CheckpointError(
                f"{BUNDLED_DIR / entry.file_name}: the bundled model is missing; restore it with git, "
                "or train it: fomm-nb train --config checkpoints/fomm-nb-faces.yaml --data procedural --out runs/faces"
            )
        return path
    folder = cache_dir()
    final = folder / entry.file_name
    if final.is_file():
        recorded = _recorded_hashes(folder).get(entry.file_name) or entry.sha256
        if recorded and sha256_of(final) != recorded:
            raise CheckpointError(f"{final}: its sha256 no longer matches the recorded one; delete it to download again")
        return final

    failures = []
    for source in [_as_source(s) for s in (sources if sources is not None else entry.sources)]:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{entry.file_name}.", suffix=".part")
        os.close(handle)
        temporary = Path(temporary)
        try:
            _fetch_one(source, entry.file_name, temporary, timeout, progress)
            _check_download(temporary, entry)
            digest = sha256_of(temporary)
            os.replace(temporary, final)
            _record_hash(folder, entry.file_name, digest)
            return final
        except (OSError, urllib.error.URLError, ValueError) as error:
            failures.append(f"{source.describe(entry.file_name)}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
        except Exception as error:  # gdown raises its own types (quota, permissions)
            failures.append(f"{source.describe(entry.file_name)}: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
        finally:
            if temporary.exists():
                temporary.unlink()
    manual = entry.sources[0].describe(entry.file_name) if entry.sources else "the published links"
    raise DownloadError(
        f"{entry.file_name}: could not download ({'; '.join(failures) or 'no sources'}). "
        f"Download it by hand from {manual} and put it in {folder}"
    )
