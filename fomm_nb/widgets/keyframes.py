"""Keyframes from the keypoint explorer: pose the keypoints at a few frames, get a smooth motion, render it.

In the explorer, drag keypoints (and turn their Jacobians) at one frame,
press **store keyframe**, move the frame slider, pose again, store again.
**render** builds a :class:`~fomm_nb.tracks.MotionTrack` through the
keyframes (:func:`~fomm_nb.tracks.keyframes.track_from_keyframes`: a smooth
spline between them, Jacobians as rotation and log-stretch) over the clip's
length and paints it on the source, with the explorer's motion settings, so
each keyframe's frame is exactly the prediction the explorer showed when it
was stored. A face can nod or wink with no driving video at all: pose the
keypoints of frame 0 at a few frames.

Example:
    >>> recorder = explorer.keyframes  # doctest: +SKIP
    >>> explorer.move_keypoint(3, (0.2, 0.1)); recorder.store()  # doctest: +SKIP
    >>> explorer.frame = 20; explorer.move_keypoint(3, (0.3, 0.1)); recorder.store()  # doctest: +SKIP
    >>> frames = recorder.render()  # (T, H, W, 3)  # doctest: +SKIP
"""

import html
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from ..errors import InputError
from ..media import tensor_to_frames, write_video
from ..plotting import video_html
from ..tracks import Keyframe, MotionTrack, track_from_keyframes
from ..types import Keypoints

__all__ = ["KeyframeRecorder"]


class KeyframeRecorder(widgets.VBox):
    """The keyframes of one :class:`~fomm_nb.widgets.KeypointExplorer`, with buttons to store, clear and render.

    Attributes:
        keyframes: ``{frame: Keyframe}``, the edited driving keypoints stored at each frame.
        frames: the last rendered video ``(T, H, W, 3)``, or None.
    """

    def __init__(self, explorer, fps: float = 25.0) -> None:
        self.explorer = explorer
        self.fps = fps
        self.keyframes = {}
        self.frames = None
        self.store_button = widgets.Button(description="store keyframe", icon="thumb-tack",
                                           tooltip="remember these keypoints at this frame")
        self.clear_button = widgets.Button(description="clear", icon="trash", tooltip="forget every keyframe")
        self.render_button = widgets.Button(description="render", icon="film",
                                            tooltip="a video that moves smoothly through the keyframes")
        guard = explorer.messages.guard
        self.store_button.on_click(guard(lambda _: self.store()))
        self.clear_button.on_click(guard(lambda _: self.clear()))
        self.render_button.on_click(guard(lambda _: self.show_video()))
        self.summary = widgets.HTML()
        self.video = widgets.HTML()
        super().__init__([widgets.HBox([self.store_button, self.clear_button, self.render_button]),
                          self.summary, self.video])
        self.add_class("fomm-keyframes")
        self._describe()

    def _describe(self):
        frames = sorted(self.keyframes)
        self.summary.value = (f"<small>keyframes at frames {', '.join(map(str, frames))}</small>" if frames else
                              "<small>no keyframes yet: pose the keypoints, then store them</small>")
        self.render_button.disabled = not frames

    def store(self) -> Keyframe:
        """Store the explorer's edited keypoints as the keyframe of its current frame (replacing one there)."""
        keyframe = Keyframe.from_keypoints(self.explorer.frame, self.explorer.editor.kp)
        self.keyframes[keyframe.frame] = keyframe
        self._describe()
        return keyframe

    def clear(self) -> None:
        """Forget every keyframe."""
        self.keyframes = {}
        self._describe()

    def track(self, num_frames: int | None = None) -> MotionTrack:
        """A track through the keyframes, ``num_frames`` long (default: the explorer's clip)."""
        if not self.keyframes:
            raise InputError("no keyframes yet: pose the keypoints and press 'store keyframe' first")
        num_frames = len(self.explorer.driving) if num_frames is None else num_frames
        return track_from_keyframes(list(self.keyframes.values()), num_frames, self.explorer.engine.model, self.fps)

    def render(self, track: MotionTrack | None = None) -> np.ndarray:
        """Paint ``track`` (default :meth:`track`) on the source: ``(T, H, W, 3)`` float32 in [0, 1].

        The explorer's motion transfer applies, relative to the clip's first
        frame as in the explorer, so a keyframe's frame is its stored prediction.
        """
        track = self.track() if track is None else track
        engine = self.explorer.engine
        track.check_model(engine.model)
        frames = [tensor_to_frames(engine.render(Keypoints(**track.keypoints(start, start + 1, engine.device))))
                  for start in range(len(track))]
        self.frames = np.concatenate(frames)
        return self.frames

    def save(self, path: str | Path) -> Path:
        """Render and write the video to ``path`` (mp4, gif, ...)."""
        return write_video(path, self.render(), fps=self.fps)

    def show_video(self) -> None:
        """Render and show the video under the buttons."""
        frames = self.render()
        scale = max(1, 256 // frames.shape[1])
        label = f"keyframes {', '.join(map(str, sorted(self.keyframes)))}"
        self.video.value = video_html(frames, fps=self.fps, labels=[html.escape(label)], scale=scale).data
