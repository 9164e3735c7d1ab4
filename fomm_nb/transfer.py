"""Fetch one URL into a file, within a connect, a read and a total time limit.

:func:`fetch_url` streams the body into an open file. The server gets
``limits.connect`` seconds to accept the connection, ``limits.read`` seconds
for its answer and then for each next piece, and the whole transfer ends at
``limits.deadline``. Every way a transfer can fail short of an I/O error is a
:class:`Rejected` whose message is one short line: what ran out, or what was
wrong with the answer. :mod:`fomm_nb.download` tries its sources with it.

Example:
    >>> import io, time
    >>> limits = Limits(connect=1, read=1, total=5, deadline=time.monotonic() + 5)
    >>> fetch_url("http://127.0.0.1:9/vox-cpk.pth.tar", "vox-cpk.pth.tar", io.BytesIO(), limits, False)  # doctest: +SKIP
"""

import http.client
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO
from dataclasses import dataclass

__all__ = ["USER_AGENT", "CHUNK", "Rejected", "OutOfTime", "ConnectTimeout", "Limits", "timeouts_explained",
           "Progress", "open_url", "fetch_url"]

CHUNK = 1 << 20
USER_AGENT = "fomm-nb/0.1 (checkpoint downloader)"


class Rejected(Exception):
    """A source answered, but not with the file we want (cut short, wrong size, not a checkpoint, too slow...)."""


class OutOfTime(Rejected):
    """The download took longer than all sources together may."""


class ConnectTimeout(TimeoutError):
    """A server did not accept the connection in time."""


@dataclass(frozen=True)
class Limits:
    """How long a download may wait: to connect, for the next bytes, and in all (a :func:`time.monotonic` deadline)."""

    connect: float
    read: float
    total: float
    deadline: float

    def read_timeout(self) -> float:
        """The read timeout, shortened so that no wait runs past the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.out_of_time()
        return min(self.read, left)

    def out_of_time(self) -> "OutOfTime":
        return OutOfTime(f"stopped after {self.total:g} s, the time allowed for the download (total_timeout)")


@contextmanager
def timeouts_explained(limits: Limits) -> Iterator[None]:
    """Re-raise the socket's timeouts as :class:`Rejected` lines that say which wait ran out."""
    try:
        yield
    except (TimeoutError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ConnectTimeout):
            raise Rejected(f"could not connect within {limits.connect:g} s") from None
        if not isinstance(reason, TimeoutError):
            raise
        if time.monotonic() >= limits.deadline:
            raise limits.out_of_time() from None
        raise Rejected(f"no answer within {limits.read:g} s (the server accepted the connection, then "
                        "sent nothing)") from None


class Progress:
    """A tqdm byte counter fed with ``(bytes so far, total or None)``; silent when disabled.

    Every update also checks the download's deadline (:class:`OutOfTime`).
    """

    def __init__(self, enabled, label, limits):
        self.enabled, self.label, self.limits, self.bar = enabled, label, limits, None

    def __call__(self, done, total=None):
        if time.monotonic() > self.limits.deadline:
            raise self.limits.out_of_time()
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


class _TimedConnection:
    """A connection that connects within its ``timeout``, then waits ``read_timeout`` for each answer."""

    read_timeout = None

    def connect(self):
        try:
            super().connect()
        except TimeoutError:
            raise ConnectTimeout("timed out") from None
        self.sock.settimeout(self.read_timeout)


class _TimedHTTP(_TimedConnection, http.client.HTTPConnection):
    pass


class _TimedHTTPS(_TimedConnection, http.client.HTTPSConnection):
    pass


def _timed(connection_class, read_timeout):
    def make(*args, **kwargs):
        connection = connection_class(*args, **kwargs)
        connection.read_timeout = read_timeout
        return connection

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout):
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, request):
        return self.do_open(_timed(_TimedHTTP, self.read_timeout), request)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout):
        super().__init__()
        self.read_timeout, self.context = read_timeout, ssl.create_default_context()

    def https_open(self, request):
        return self.do_open(_timed(_TimedHTTPS, self.read_timeout), request, context=self.context)


def open_url(url: str, limits: Limits) -> http.client.HTTPResponse:
    """Open ``url`` (following redirects) within ``limits``: connect, then wait for the answer."""
    read = limits.read_timeout()
    opener = urllib.request.build_opener(_HTTPHandler(read), _HTTPSHandler(read))
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with timeouts_explained(limits):
        return opener.open(request, timeout=min(limits.connect, limits.deadline - time.monotonic()))


def fetch_url(url: str, file_name: str, out: BinaryIO, limits: Limits, progress: bool) -> None:
    """Stream ``url`` into ``out``; :class:`Rejected` if the body is shorter than announced."""
    with open_url(url, limits) as response, Progress(progress, file_name, limits) as bar, timeouts_explained(limits):
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done = 0
        while True:
            try:
                chunk = response.read1(CHUNK)  # what has come: the deadline is checked between chunks
            except http.client.IncompleteRead as error:
                raise Rejected(f"the connection closed after {done + len(error.partial)} of {total} bytes") from None
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            bar(done, total)
    if total is not None and done != total:
        raise Rejected(f"the connection closed after {done} of {total} bytes")
