"""The kernel side of the live camera: camera frames in as compressed bytes, animated frames out.

The page (``static/camera.js``) and the kernel talk in custom widget messages,
each a small JSON header plus binary buffers:

* page -> kernel ``{"type": "frame", "id": n, "t": ms}`` and one buffer: the
  camera frame as JPEG or WebP, already downscaled to the model's size; ``t``
  is the capture time on the page's clock (``performance.now()``).
* kernel -> page ``{"type": "result", "id": n, "t": ms, "keypoints": [[x, y], ...], "work_ms": w}``
  and one buffer, the animated frame as JPEG; ``w``: the kernel's work on it
  in ms (decode, model, encode). ``t`` comes back unchanged, so
  the page measures capture-to-display latency on its own clock; the
  keypoints ``(K, 2)`` in ``[-1, 1]`` are the camera frame's (smoothed), for
  drawing over the preview.
* kernel -> page ``{"type": "dropped", ...}``: the frame arrived while another
  was being animated, and was dropped.
* kernel -> page ``{"type": "error", ..., "message": "camera frame 7: ..."}``:
  the frame could not be used (one line); the next frame goes on as usual.

**Back-pressure**: at most one frame is in flight in the kernel: it drops
(never queues) a frame that arrives while it works (:class:`OneAtATime`), and
answers it at once with ``dropped``. The page sends each new camera frame as
it comes, without waiting for the answer to the last one, so that its capture,
its encoding and the trip to the kernel overlap the kernel's work on the
frame before: the first frame to arrive after the kernel is free is animated
(stop-and-wait would leave the kernel idle for a whole round trip between
frames, and cap the rate at one frame per round trip). The page keeps at most
a few frames unanswered (``MAX_ON_WIRE``, 8, in the page), so a kernel that stops
reading leaves no backlog behind it. A slow model therefore shows fewer frames
per second, never older ones: the delay stays bounded and the kernel never
falls behind.

Example:
    >>> from fomm_nb.hub import get_model
    >>> model = get_model("demo", device="cpu")
    >>> session = LiveSession(model, np.zeros((64, 64, 3), np.float32))
    >>> header, buffers = session.process({"type": "frame", "id": 1, "t": 0.0}, [encode_image(np.zeros((64, 64, 3)))])
    >>> header["type"], header["id"], len(header["keypoints"]), buffers[0][:2]
    ('result', 1, 10, b'\\xff\\xd8')
    >>> session.process({"type": "frame", "id": 2, "t": 40.0}, [b"not a picture"])[0]["message"]
    'camera frame 2: not a JPEG or WebP picture (cannot identify image file)'
"""

import io
import math
import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import FommError, InputError
from ..media import VideoWriter, fit_frame, side_by_side
from ..model import FirstOrderModel
from ..motion import MotionOptions
from ..tracks import CAUSAL_SMOOTHING, KeypointSmoother
from ..types import Keypoints
from .common import INTERACTIVE_THREADS, encode_image, image_of, prepare_engine

__all__ = ["MAX_FRAME_SIDE", "RECORD_FPS", "OneAtATime", "LiveRecorder", "LiveSession", "decode_frame"]

_log = logging.getLogger(__name__)

MAX_FRAME_SIDE = 2048  # pixels: the page sends the model's size; anything far larger is not a camera frame
RECORD_FPS = 25.0  # recordings are written at this steady rate (frames repeated or skipped to keep real time)
NOMINAL_FPS = 25.0  # the smoother's rate when frames come without times


def decode_frame(data: bytes, size: int, what: str = "camera frame") -> np.ndarray:
    """Compressed bytes (JPEG, WebP or PNG) -> ``(size, size, 3)`` float32 in [0, 1] (centre crop if not square).

    Example:
        >>> decode_frame(encode_image(np.ones((32, 32, 3))), 64).shape
        (64, 64, 3)
        >>> decode_frame(b"", 64)
        Traceback (most recent call last):
        ...
        fomm_nb.errors.InputError: camera frame: empty (no picture bytes came)
    """
    if not data:
        raise InputError(f"{what}: empty (no picture bytes came)")
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.format not in ("JPEG", "WEBP", "PNG"):
                raise InputError(f"{what}: a {picture.format} picture; the page sends JPEG or WebP")
            if max(picture.size) > MAX_FRAME_SIDE:
                raise InputError(f"{what}: {picture.size[0]}x{picture.size[1]} pixels, more than a camera frame "
                                 f"({MAX_FRAME_SIDE} a side at most)")
            pixels = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        reason = str(error).split(" <")[0]  # PIL appends the buffer's repr
        raise InputError(f"{what}: not a JPEG or WebP picture ({reason})") from None
    return pixels if pixels.shape[:2] == (size, size) else fit_frame(pixels, size)


class OneAtATime:
    """Run jobs in one worker thread, one at a time: a job offered while another runs is dropped, never queued.

    Example:
        >>> gate, started = OneAtATime(), threading.Event()
        >>> gate.offer(lambda: started.wait(5)), gate.offer(lambda: None)  # the second finds the first running
        (True, False)
        >>> started.set(); gate.wait(), gate.dropped
        (True, 1)
    """

    def __init__(self) -> None:
        self._idle = threading.Event()
        self._idle.set()
        self._guard = threading.Lock()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="fomm-live")
        self.dropped = 0
        self._last = None

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def offer(self, job: Callable[[], object], then: Callable[[object], object] | None = None) -> bool:
        """Start ``job`` if nothing runs (True), and call ``then(its result)`` once the next job may start.

        Otherwise drop it (False). ``then`` runs after the worker is free, so
        that an answer which makes the page send its next frame at once never
        finds the worker still busy with the frame just answered.
        """
        with self._guard:
            if self.busy:
                self.dropped += 1
                return False
            self._idle.clear()
        self._last = self._worker.submit(self._run, job, then)
        return True

    def _run(self, job, then):
        try:
            result = job()
        except Exception as error:  # a job reports its own errors; this only keeps the worker alive
            _log.warning("live frame job failed", exc_info=error)
            return
        finally:
            self._idle.set()
        if then is not None:
            then(result)

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Wait until the last job and its ``then`` are done; False on timeout."""
        if self._last is not None:
            futures.wait([self._last], timeout)
        return self._last is None or self._last.done()


class LiveRecorder:
    """Frames that arrive unevenly, written in real time to a video at a steady ``fps`` through :class:`~fomm_nb.media.VideoWriter`.

    Each slot of the video (every ``1 / fps`` seconds) shows the frame that
    was on screen at that time: a slow model's frame is repeated, a frame
    replaced before the next slot is skipped.

    Example:
        >>> recorder = LiveRecorder("take.mp4", fps=10)
        >>> for seconds in (0.0, 0.3, 0.32, 0.5):
        ...     recorder.add(np.zeros((16, 16, 3), np.float32), seconds)
        >>> recorder.close().name, recorder.writer.num_frames  # slots 0-5 show frames 1, 1, 1, 2, 3, 4
        ('take.mp4', 6)
    """

    def __init__(self, path: str | Path, fps: float = RECORD_FPS) -> None:
        self.writer = VideoWriter(path, fps)
        self.fps = fps
        self._start = None
        self._shown = None  # the frame on screen, not yet written for its last slot

    def add(self, frame: np.ndarray, seconds: float) -> None:
        """``frame`` ``(H, W, 3)`` is on screen from time ``seconds`` (any clock that does not go back)."""
        if self._start is None:
            self._start = seconds
        before = math.ceil((seconds - self._start) * self.fps - 1e-6)  # the slots that start before this frame
        while self._shown is not None and self.writer.num_frames < before:
            self.writer.append(self._shown)
        self._shown = frame

    @property
    def empty(self) -> bool:
        return self._shown is None

    def close(self) -> Path:
        """Write the last frame and finish the video; its path."""
        if self._shown is not None:
            self.writer.append(self._shown)
        self.writer.close()
        return self.writer.path

    def abort(self) -> None:
        self.writer.abort()


class LiveSession:
    """Animate a source picture by camera frames as they come, one at a time (see the module's protocol).

    Args:
        model: the model; frames are animated at its ``image_size``.
        source: the picture ``(H, W, 3)`` in [0, 1] at the model's size.
        send: ``(header, buffers)`` -> None, how answers reach the page (a widget's ``send``).
        options: a :class:`~fomm_nb.motion.MotionOptions` (set ``session.engine.options`` any time).
        smoothing: ``"one-euro"``, ``"kalman"`` or ``"none"``: the causal filter over the camera's keypoints.

    The first frame is the neutral pose of relative motion until
    :meth:`set_neutral` makes the next frame the neutral pose.
    """

    def __init__(self, model: FirstOrderModel, source: np.ndarray, send: Callable | None = None,
                 options: MotionOptions | None = None, smoothing: str = CAUSAL_SMOOTHING,
                 num_threads: int | None = INTERACTIVE_THREADS) -> None:
        self.model = model
        self.engine = prepare_engine(model, source, options, num_threads)
        self.send = send or (lambda header, buffers: None)
        self.gate = OneAtATime()
        self.recorder = None
        self.counts = {"received": 0, "animated": 0, "dropped": 0, "bad": 0}
        self._lock = threading.Lock()  # one frame, or one change of settings, at a time
        self._neutral_next = True
        self._last_time = None
        self.smoothing = smoothing
        self._smoother = self._make_smoother(smoothing)

    @staticmethod
    def _make_smoother(name):
        return None if name in (None, "none") else KeypointSmoother(name, fps=NOMINAL_FPS)

    # ------------------------------------------------------------ settings (from the app's controls)

    def set_source(self, source: np.ndarray) -> None:
        """A new picture to animate; the neutral pose stays."""
        with self._lock:
            neutral = self.engine.kp_driving_initial
            self.engine.set_source(source)
            self.engine.kp_driving_initial = neutral

    def set_smoothing(self, name: str) -> None:
        """``"one-euro"``, ``"kalman"`` or ``"none"``; the filter starts afresh."""
        smoother = self._make_smoother(name)
        with self._lock:
            self.smoothing, self._smoother, self._last_time = name, smoother, None

    def set_neutral(self) -> None:
        """Make the next frame the neutral pose: relative motion is measured from it."""
        self._neutral_next = True

    def start_recording(self, path: str | Path, fps: float = RECORD_FPS) -> None:
        """Record what the page shows, camera frame beside animated frame, to ``path`` (mp4)."""
        recorder = LiveRecorder(path, fps)
        with self._lock:
            if self.recorder is not None:
                self.recorder.abort()
            self.recorder = recorder

    def stop_recording(self) -> Path | None:
        """Finish the recording; its path, or None when no frame came while recording."""
        with self._lock:
            recorder, self.recorder = self.recorder, None
        if recorder is None or recorder.empty:
            if recorder is not None:
                recorder.abort()
            return None
        return recorder.close()

    # ------------------------------------------------------------ frames

    def receive(self, header: dict, buffers: list) -> bool:
        """A message from the page: animate the frame in the worker thread and :attr:`send` the answer.

        Returns False when the frame was dropped (another one is being animated).
        """
        self.counts["received"] += 1
        if self.gate.offer(lambda: self.process(header, buffers), then=lambda answer: self.send(*answer)):
            return True
        self.counts["dropped"] += 1
        self.send({"type": "dropped", "id": header.get("id"), "t": header.get("t")}, [])
        return False

    def process(self, header: dict, buffers: list) -> tuple[dict, list]:
        """The answer ``(header, buffers)`` to one frame message (see the module's protocol); never raises."""
        reply = {"id": header.get("id"), "t": header.get("t")}
        start = time.perf_counter()
        try:
            if header.get("type") != "frame" or not buffers:
                raise InputError(f"camera frame {header.get('id')}: a {header.get('type')!r} message with "
                                 f"{len(buffers)} buffers; expected a 'frame' with one picture")
            frame = decode_frame(bytes(buffers[0]), self.model.image_size, f"camera frame {header.get('id')}")
            animated, keypoints = self.animate(frame, _seconds(header.get("t")))
            picture = encode_image(animated)
        except Exception as error:  # one line on the page; the next frame goes on
            self.counts["bad"] += 1
            _log.debug("live frame refused", exc_info=error)
            message = str(error) if isinstance(error, FommError) else f"{type(error).__name__}: {error}"
            return {**reply, "type": "error", "message": message}, []
        self.counts["animated"] += 1
        reply.update(type="result", keypoints=np.round(keypoints, 4).tolist(),
                     work_ms=round(1000 * (time.perf_counter() - start), 1))
        return reply, [picture]

    def animate(self, frame: np.ndarray, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One camera frame ``(H, W, 3)`` at the model's size -> the animated frame ``(H, W, 3)`` and its keypoints ``(K, 2)``.

        ``seconds``: the capture time, for the smoother's time step and the recording.
        """
        with self._lock:
            kp_driving = self._smooth(self.engine.detect(frame), seconds)
            if self._neutral_next:
                self.engine.kp_driving_initial = kp_driving
                self._neutral_next = False
            animated = image_of(self.engine.render(kp_driving))
            if self.recorder is not None:
                self.recorder.add(side_by_side(frame, animated), time.monotonic() if seconds is None else seconds)
        return animated, kp_driving.value[0].cpu().numpy()

    def _smooth(self, kp: Keypoints, seconds: float | None) -> Keypoints:
        if self._smoother is None:
            return kp
        dt = None
        if seconds is not None and self._last_time is not None and seconds > self._last_time:
            dt = seconds - self._last_time
        self._last_time = seconds
        jacobian = None if kp.jacobian is None else kp.jacobian[0].cpu().numpy()
        value, jacobian = self._smoother(kp.value[0].cpu().numpy(), jacobian, dt)
        as_tensor = lambda array: torch.as_tensor(array, device=kp.value.device)[None]  # noqa: E731
        return Keypoints(as_tensor(value), None if jacobian is None else as_tensor(jacobian))

    def run_clip(self, frames: np.ndarray, fps: float = NOMINAL_FPS) -> np.ndarray:
        """Send ``frames`` ``(T, H, W, 3)`` through the same path as the camera's (JPEG bytes, one at a time): ``(T, H, W, 3)``.

        What the page's "no camera?" clip does, without a page (a headless notebook, a test).
        """
        animated = []
        for index, frame in enumerate(frames):
            header, buffers = self.process({"type": "frame", "id": index, "t": 1000.0 * index / fps},
                                           [encode_image(np.asarray(frame))])
            if header["type"] != "result":
                raise InputError(header["message"])
            animated.append(decode_frame(buffers[0], self.model.image_size))
        return np.stack(animated)


def _seconds(milliseconds) -> float | None:
    return None if milliseconds is None else float(milliseconds) / 1000.0
