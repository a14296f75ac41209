"""A synthetic video as a consumer gets it: the frames the camera delivers (H.264-compressed when the
config has a ``crf``), and the face clips a model is trained and tested on.

A face clip of S×S pixels comes either straight from the renderer (the ``crop`` and ``scene`` framings,
rendered at S×S) or, in the ``webcam`` framing, as on real video: the whole :data:`WEBCAM_SIZE` frame is
rendered and compressed, then the face box is cut out and resampled to S×S (``cv2.INTER_AREA`` when
shrinking), so compression blocks and the resampling reach the clip as they would from a webcam. The face
box is the generator's known face at rest (centre, the side a Haar detection has) enlarged as the preprocessing does
(:func:`sspd.data.face.enlarge_box`, ``square1.5``), fixed for the clip; the head moves inside it.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from sspd.data.face import crop_box, enlarge_box
from sspd.data.synthetic.camera import h264_round_trip
from sspd.data.synthetic.config import SyntheticConfig
from sspd.data.synthetic.render import SyntheticVideo

__all__ = ["WEBCAM_SIZE", "captured_frames", "face_box", "face_clip", "clip_video", "clip_frame_size", "DETECTOR_SIDE"]

#: (width, height) of the frames the webcam framing's clips are cut from
WEBCAM_SIZE = (640, 480)
_FACE_BOX = "square1.5"
#: OpenCV's Haar cascade boxes this face at about 1.2x its width (1.13-1.27 on 32 compressed webcam frames
#: of 8 videos), so the known box is that detection's, and a clip matches a preprocessed real video's crop
DETECTOR_SIDE = 1.2


def captured_frames(video: SyntheticVideo, chunk: int = 16) -> Iterator[np.ndarray]:
    """The video's T frames (H×W×3 uint8 RGB) as the camera delivers them: rendered ``chunk`` at a time,
    then through an H.264 encode-decode round trip at ``video.config.crf`` when that is set."""
    frames = video.iter_frames(chunk)
    crf = video.config.crf
    return frames if crf is None else h264_round_trip(frames, fps=video.fps, crf=crf)


def face_box(video: SyntheticVideo, *, enlarge: str = _FACE_BOX) -> np.ndarray:
    """(4,) int32 ``(x0, y0, x1, y1)``: the square crop box of the face at rest, enlarged as the
    preprocessing enlarges a detection (the detector's box: :data:`DETECTOR_SIDE` × the face width)."""
    geo = video.scene.face.geometry
    geom = np.array([geo.cx, geo.cy, DETECTOR_SIDE * 2.0 * geo.rx])
    return enlarge_box(geom, frame_hw=(video.height, video.width), enlarge=enlarge)


def clip_frame_size(config: SyntheticConfig, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) to render a clip of ``size`` at: :data:`WEBCAM_SIZE` in the webcam framing."""
    return WEBCAM_SIZE if config.framing == "webcam" else size


def clip_video(seed: int | np.random.SeedSequence, *, n_frames: int, fps: float, size: tuple[int, int],
               config: SyntheticConfig) -> SyntheticVideo:
    """The :class:`SyntheticVideo` a clip of ``size`` = (W, H) is made from (see :func:`face_clip`)."""
    width, height = clip_frame_size(config, size)
    return SyntheticVideo(seed, n_frames=n_frames, fps=fps, width=width, height=height, config=config)


def face_clip(video: SyntheticVideo, size: tuple[int, int], chunk: int = 16) -> np.ndarray:
    """(T, H, W, 3) uint8 clip of ``size`` = (W, H): the captured frames, cut to the face box and resampled
    in the webcam framing (``size`` must then be square), as rendered otherwise."""
    if video.config.framing != "webcam":
        return video.render() if video.config.crf is None else np.stack(list(captured_frames(video, chunk)))
    frames = captured_frames(video, chunk)
    if size[0] != size[1]:
        raise ValueError(f"webcam-framed clips are square face crops; got size {size[0]}x{size[1]}")
    box = face_box(video)
    return np.stack([crop_box(frame, box, size=size[0]) for frame in frames])
