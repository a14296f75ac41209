"""Render a synthetic video frame by frame, vectorised over pixels and over chunks of frames.

Per chunk of frames (times t, shape (Tc,)):

1. the pulsatile term on the face at rest, p(t − τ(x)) · a(x), as a (Tc, K) @ (K, H·W) product: the
   delay map τ(x) is interpolated linearly between K delay nodes, so the pulse is evaluated only at the
   K delayed times, never per pixel;
2. the head layer tone·(1 + a·u_p·p) + u_s·skin·(s0 + Φ(t)), premultiplied by its coverage alpha;
3. the head motion: one ``cv2.warpAffine`` per frame of the 4-channel (RGB·alpha, alpha) layer;
4. compositing over the background, the scene light I0(x)·(1+Ψ(t)), sensor noise, the camera's
   exposure and white-balance gains (:mod:`.camera`), rounding to uint8.

Blinks and mouth motion (:mod:`.expressions`) blend the head layer towards the closed eyelids and the
open mouth's inside, in those regions only, before the warp. Compression is not done here: see
:func:`sspd.data.synthetic.camera.h264_round_trip` and :func:`camera_frames`.

The sensor noise of frame k comes from ``default_rng([noise_seed, k])``, so any frame range renders to
the same pixels whatever the chunking, and a clip can start anywhere.
"""
from __future__ import annotations

import logging
from typing import Iterator

import cv2
import numpy as np

from sspd.data.synthetic.config import SyntheticConfig
from sspd.data.synthetic.scene import Scene, draw_scene
from sspd.signal import check_fs

__all__ = ["SyntheticVideo", "U_PULSE", "U_SPECULAR"]

log = logging.getLogger(__name__)

# Pulsatile direction in RGB (Wang et al. 2017; strongest in green) and the specular direction.
U_PULSE = np.array([0.33, 0.77, 0.53], dtype=np.float32)
U_SPECULAR = np.array([1.0, 1.0, 1.0], dtype=np.float32)
_DELAY_NODES = 4
_TRIANGULAR_STD = float(np.sqrt(2 * (256**2 - 1) / 12))  # std of a sum of two uniform bytes


class SyntheticVideo:
    """One synthetic video: its frames, labels and skin masks, all computed on demand.

    Args:
        seed: an int or a ``numpy.random.SeedSequence``; the video is a pure function of
            (seed, n_frames, fps, width, height, config).
        n_frames: number of frames (T).
        fps: frame rate in Hz; frame k is at t = k / fps.
        width, height: frame size in pixels (any size from 16×16).
        config: the model's knobs (defaults: :class:`SyntheticConfig`).
    """

    def __init__(self, seed: int | np.random.SeedSequence, *, n_frames: int, fps: float, width: int,
                 height: int, config: SyntheticConfig | None = None) -> None:
        if n_frames < 1:
            raise ValueError(f"SyntheticVideo: n_frames must be >= 1, got {n_frames}")
        self.config = config or SyntheticConfig()
        self.n_frames, self.fps = int(n_frames), check_fs(fps, name="SyntheticVideo: fps")
        self.width, self.height = int(width), int(height)
        self.scene: Scene = draw_scene(seed, width=self.width, height=self.height, config=self.config)
        self._prepare()

    # ---- static precomputation -------------------------------------------------------------------
    def _prepare(self) -> None:
        face = self.scene.face
        self._roi = _head_box(face.alpha)  # (x0, y0, x1, y1): the head layer is zero outside it
        x0, y0, x1, y1 = self._roi
        crop = (slice(y0, y1), slice(x0, x1))
        alpha = face.alpha[crop]  # (h, w)
        tone_pm = face.tone[crop] * alpha[..., None]  # (h, w, 3) premultiplied by coverage
        self._skin_pm = np.ascontiguousarray(face.skin[crop] * alpha)  # (h, w)
        self._base = tone_pm + (face.specular[crop] * alpha)[..., None] * U_SPECULAR  # (h, w, 3)
        self._tone_pulse = tone_pm * U_PULSE  # (h, w, 3): tone·u_p
        self._alpha = np.ascontiguousarray(alpha)
        self._bg_lit = self.scene.background * self.scene.lighting.field[..., None]  # (H, W, 3)
        self._light = self.scene.lighting.field[..., None]  # (H, W, 1)
        self._delays = np.linspace(0.0, max(self.config.pulse_delay_s, 0.0), _DELAY_NODES)
        self._pulse_maps = self._delay_weights(face.delay[crop], (face.perfusion * face.skin)[crop])
        # what a shut eye / a fully open mouth adds to the premultiplied head layer, (h, w, 3) each
        self._eyes_shut = (face.eyelid[crop] - face.tone[crop]) * (face.eyes[crop] * alpha)[..., None]
        self._mouth_open = (face.mouth_inside - face.tone[crop]) * (face.mouth[crop] * alpha)[..., None]
        geo = face.geometry
        self._centre = (geo.cx - 0.5, geo.cy - 0.5)  # OpenCV pixel centres are at integers
        # One frame box for the whole video: warpAffine quantises source positions to 1/32 pixel
        # relative to the destination origin, so a box per chunk would make pixels depend on chunking.
        self._box = _warped_box(self._roi, self.affines(), self.width, self.height)
        log.debug("synthetic video %dx%d, %d frames: HR0 %.1f bpm, skin %s, head box %s", self.width,
                  self.height, self.n_frames, self.scene.pulse.hr_bpm, self.scene.skin_tone, self._roi)

    def _delay_weights(self, delay: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
        """(K, h·w) float32: a(x) split over K delay nodes by linear interpolation of τ(x)."""
        k = _DELAY_NODES
        span = self._delays[-1]
        pos = np.zeros_like(delay, dtype=np.float64) if span == 0 else delay / span * (k - 1)
        weights = np.clip(1.0 - np.abs(pos[None] - np.arange(k)[:, None, None]), 0.0, 1.0)  # (K, h, w)
        maps = weights * (self.scene.pulse_amplitude * amplitude)[None]
        return maps.reshape(k, -1).astype(np.float32)  # (K, h·w)

    # ---- labels ----------------------------------------------------------------------------------
    @property
    def frame_times(self) -> np.ndarray:
        """(T,) seconds of each frame, k / fps."""
        return np.arange(self.n_frames) / self.fps

    @property
    def has_pulse(self) -> bool:
        return self.scene.has_pulse

    def ppg(self, times: np.ndarray) -> np.ndarray:
        """(N,) label p(t) at ``times`` (s): the undelayed pulse, unit variance; zeros without a pulse."""
        times = np.asarray(times, dtype=np.float64)
        return self.scene.pulse(times) if self.has_pulse else np.zeros_like(times)

    def hr(self, times: np.ndarray) -> np.ndarray:
        """(N,) instantaneous HR in bpm at ``times``; zeros without a pulse."""
        times = np.asarray(times, dtype=np.float64)
        return self.scene.pulse.hr(times) if self.has_pulse else np.zeros_like(times)

    @property
    def mean_hr(self) -> float:
        """Mean of HR(t) over the frame times (bpm); 0.0 for a no-pulse video."""
        return float(self.hr(self.frame_times).mean())

    def affines(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(N, 2, 3) rest-to-frame affine matrices of frames [start, stop) (OpenCV convention)."""
        start, stop = self._check_range(start, stop)
        return self.scene.motion.affines(np.arange(start, stop) / self.fps, self._centre)

    def skin_masks(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(N, H, W) float32 skin weight in [0, 1] of frames [start, stop), warped with the head.
        Threshold at 0.5 for a boolean mask."""
        return self.region_masks("skin", start, stop)

    def region_masks(self, region: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(N, H, W) float32 weight in [0, 1] of ``region`` (``"skin"``, ``"eyes"``: the eyelids' region,
        or ``"mouth"``: the mouth opening) in frames [start, stop), warped with the head; exactly 0
        where no pixel of the region reaches."""
        maps = {"skin": self._skin_pm, "eyes": self.scene.face.eyes, "mouth": self.scene.face.mouth}
        if region not in maps:
            raise ValueError(f"region {region!r} must be one of {sorted(maps)}")
        x0, y0, x1, y1 = self._roi
        rest = np.ascontiguousarray(maps[region] if region == "skin" else maps[region][y0:y1, x0:x1])
        affines, box = self.affines(start, stop), self._box
        masks = np.zeros((len(affines), self.height, self.width), dtype=np.float32)
        for mask, m in zip(masks, _crop_affines(affines, self._roi, box)):
            mask[box[1]:box[3], box[0]:box[2]] = cv2.warpAffine(
                rest, m, (box[2] - box[0], box[3] - box[1]), flags=cv2.INTER_LINEAR)
        return masks

    def camera_gains(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(N, 3) float32 RGB exposure × white-balance gains of frames [start, stop) (ones when off)."""
        start, stop = self._check_range(start, stop)
        return self.scene.camera(np.arange(start, stop) / self.fps)

    # ---- frames ----------------------------------------------------------------------------------
    def render(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB frames [start, stop)."""
        start, stop = self._check_range(start, stop)
        times = np.arange(start, stop) / self.fps
        affines, box = self.affines(start, stop), self._box  # (N, 2, 3), frame box of the head
        delayed = self._delayed_pulse(times)  # (N, K) or None
        phi = self.scene.lighting.phi(times)  # (N,) grey levels
        gain = 1.0 + self.scene.lighting.psi(times)  # (N,)
        shut = self.scene.expressions.eyes_closed(times)  # (N,)
        mouth = self.scene.expressions.mouth_open(times)  # (N,)
        camera = self.scene.camera(times) if self.scene.camera.active else None  # (N, 3)
        out = np.empty((len(times), self.height, self.width, 3), dtype=np.uint8)
        buffers = _Buffers(self._alpha, box, self.height, self.width)
        for i, m in enumerate(_crop_affines(affines, self._roi, box)):
            pulse = None if delayed is None else self._pulse_term(delayed[i])
            self._head_layer(buffers, pulse, float(phi[i]), m, float(shut[i]), float(mouth[i]))
            frame = self._composite(buffers, float(gain[i]))
            self._add_noise(frame, start + i)
            if camera is not None:
                frame *= camera[i]  # the camera's gains act on the sensor signal, noise included
            np.rint(frame, out=frame)
            np.clip(frame, 0, 255, out=frame)
            out[i] = frame
        return out

    def iter_frames(self, chunk: int = 16) -> Iterator[np.ndarray]:
        """Yield the T frames one by one as H×W×3 uint8 RGB, rendering ``chunk`` frames at a time."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        for first in range(0, self.n_frames, chunk):
            yield from self.render(first, min(first + chunk, self.n_frames))

    def _check_range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.n_frames if stop is None else stop
        if not 0 <= start < stop <= self.n_frames:
            raise ValueError(f"frame range [{start}, {stop}) is outside [0, {self.n_frames}) or empty")
        return int(start), int(stop)

    def _delayed_pulse(self, times: np.ndarray) -> np.ndarray | None:
        """(N, K) float32 pulse p(t − τ_k) at the K delay nodes, or None without a pulse."""
        if self.scene.pulse_amplitude == 0.0:
            return None
        return np.stack([self.scene.pulse(times - d) for d in self._delays], axis=1).astype(np.float32)

    def _pulse_term(self, delayed: np.ndarray) -> np.ndarray:
        """(h, w) relative pulsatile modulation a(x)·p(t − τ(x)) of one frame from its (K,) delayed
        pulse values, over the rest head box."""
        return (delayed @ self._pulse_maps).reshape(self._alpha.shape)  # (K,) @ (K, h·w) → (h, w)

    def _head_layer(self, buf: "_Buffers", pulse: np.ndarray | None, phi: float, affine: np.ndarray,
                    shut: float = 0.0, mouth: float = 0.0) -> None:
        """Fill ``buf.rest`` with the head layer at rest (eyes ``shut`` and ``mouth`` open by those
        fractions) and warp it into ``buf.head`` (the frame box)."""
        rgb = buf.rest[..., :3]  # (h, w, 3) premultiplied colour
        if pulse is None:
            np.copyto(rgb, self._base)
        else:
            np.multiply(self._tone_pulse, pulse[..., None], out=rgb)  # tone·u_p·a·p
            rgb += self._base
        rgb += (phi * self._skin_pm)[..., None]  # u_s·Φ(t) on the skin, u_s = [1, 1, 1]
        if shut > 0:
            rgb += np.float32(shut) * self._eyes_shut  # zero outside the eyelids' region
        if mouth > 0:
            rgb += np.float32(mouth) * self._mouth_open  # zero outside the mouth opening
        cv2.warpAffine(buf.rest, affine, buf.box_size, dst=buf.head, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def _composite(self, buf: "_Buffers", gain: float) -> np.ndarray:
        """(H, W, 3) float32 I0·(1+Ψ)·(head + (1−alpha)·background), the head only inside the box."""
        x0, y0, x1, y1 = buf.box
        frame = buf.frame
        np.multiply(self._bg_lit, np.float32(gain), out=frame)
        bg = self._bg_lit[y0:y1, x0:x1]  # (h', w', 3) lit background
        inside = buf.head[..., :3] * self._light[y0:y1, x0:x1]  # (h', w', 3)
        inside -= buf.head[..., 3:] * bg
        inside += bg
        np.multiply(inside, np.float32(gain), out=frame[y0:y1, x0:x1])
        return frame

    def _add_noise(self, frame: np.ndarray, index: int) -> None:
        """Add frame ``index``'s sensor noise in place: triangular (sum of two uniform bytes) with std
        ``noise_std``; close enough to Gaussian for dithering, and ~3x cheaper to draw."""
        if self.scene.noise_std == 0:
            return
        rng = np.random.default_rng([self.scene.noise_seed, index])
        pair = np.frombuffer(rng.bytes(2 * frame.size), dtype=np.uint8).reshape(2, *frame.shape)
        noise = np.add(pair[0], pair[1], dtype=np.int16)  # (H, W, 3) in 0..510
        noise -= 255
        cv2.scaleAdd(noise.astype(np.float32), self.scene.noise_std / _TRIANGULAR_STD, frame, dst=frame)


class _Buffers:
    """Per-render scratch arrays: the rest head layer (h, w, 4), its warp into the frame box
    (h', w', 4) and one float frame (H, W, 3)."""

    def __init__(self, alpha: np.ndarray, box: tuple[int, int, int, int], height: int, width: int) -> None:
        self.box = box
        self.box_size = (box[2] - box[0], box[3] - box[1])  # (w', h') as OpenCV wants
        self.rest = np.empty(alpha.shape + (4,), dtype=np.float32)
        self.rest[..., 3] = alpha
        self.head = np.empty((self.box_size[1], self.box_size[0], 4), dtype=np.float32)
        self.frame = np.empty((height, width, 3), dtype=np.float32)


def _head_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) bounding box of the pixels where the head layer covers anything."""
    ys, xs = np.nonzero(alpha > 1e-4)
    if len(xs) == 0:
        raise ValueError("synthetic face: the head layer is empty (face_height too small for this frame)")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _warped_box(roi: tuple[int, int, int, int], affines: np.ndarray, width: int, height: int
                ) -> tuple[int, int, int, int]:
    """Frame box (x0, y0, x1, y1) covering the rest ``roi`` under every (N, 2, 3) affine, plus 2 px."""
    x0, y0, x1, y1 = roi
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], dtype=np.float64)  # (4, 3)
    pts = np.einsum("nij,cj->nci", affines, corners).reshape(-1, 2)  # (N·4, 2)
    lo = np.floor(pts.min(axis=0)) - 2
    hi = np.ceil(pts.max(axis=0)) + 3
    bx0, by0 = int(np.clip(lo[0], 0, width - 1)), int(np.clip(lo[1], 0, height - 1))
    bx1, by1 = int(np.clip(hi[0], bx0 + 1, width)), int(np.clip(hi[1], by0 + 1, height))
    return bx0, by0, bx1, by1


def _crop_affines(affines: np.ndarray, roi: tuple[int, int, int, int], box: tuple[int, int, int, int]
                  ) -> np.ndarray:
    """(N, 2, 3) affines from rest-ROI pixels to frame-box pixels (both offsets folded in)."""
    out = affines.copy()
    out[:, :, 2] += affines[:, :, :2] @ np.array([roi[0], roi[1]], dtype=np.float64)
    out[:, 0, 2] -= box[0]
    out[:, 1, 2] -= box[1]
    return out
