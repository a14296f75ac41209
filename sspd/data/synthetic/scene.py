"""Everything drawn once per synthetic video: the pulse, the face and room, the light and the motion.

A :class:`Scene` is a pure function of (seed, size, config): each group of draws (pulse, appearance,
motion, light, noise) has its own child seed, so changing one knob (say, switching the pulse off or
adding flicker) leaves every other draw of the video unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sspd.data.synthetic.camera import CameraGains
from sspd.data.synthetic.config import SKIN_TONES, SyntheticConfig
from sspd.data.synthetic.curves import SmoothCurve
from sspd.data.synthetic.expressions import Expressions
from sspd.data.synthetic.face_model import WIDTH_OVER_HEIGHT, FaceGeometry, FaceMaps, build_face
from sspd.data.synthetic.pulse import PulseModel, draw_pulse_model

__all__ = ["Scene", "Motion", "Lighting", "draw_scene", "draw_pulse", "spawn_seed"]

_SLOW_MOTION_HZ = (0.02, 0.4)
_ILLUMINATION_HZ = (0.01, 0.2)
_SPECULAR_HZ = (0.02, 0.5)
_HAIR_COLOURS = np.array([[35, 28, 24], [60, 42, 30], [95, 70, 45], [20, 18, 18], [120, 100, 80]], float)
# 5: label clock. The camera, expression and framing streams are new draws: switching them on changes no
# other draw of a video.
_STREAMS = {"pulse": 0, "appearance": 1, "motion": 2, "light": 3, "noise": 4, "beats": 6, "camera": 7,
            "expressions": 8, "framing": 9}


@dataclass(frozen=True)
class Motion:
    """Head motion curves: translation ``dx``/``dy`` (pixels), rotation ``angle`` (degrees) and relative
    ``scale`` change (scale = 1 + scale(t)), about the face's rest centre."""

    dx: SmoothCurve
    dy: SmoothCurve
    angle: SmoothCurve
    scale: SmoothCurve

    def affines(self, times: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
        """(N, 2, 3) matrices mapping rest face pixels to frame pixels (OpenCV convention, pixel
        centres at integers) at the (N,) ``times``."""
        theta = np.deg2rad(self.angle(times))
        s = 1.0 + self.scale(times)
        cos, sin = s * np.cos(theta), s * np.sin(theta)
        cx, cy = centre
        out = np.empty((len(theta), 2, 3))
        out[:, 0, 0], out[:, 0, 1] = cos, -sin
        out[:, 1, 0], out[:, 1, 1] = sin, cos
        out[:, 0, 2] = cx + self.dx(times) - cos * cx + sin * cy
        out[:, 1, 2] = cy + self.dy(times) - sin * cx - cos * cy
        return out


@dataclass(frozen=True)
class Lighting:
    """``field`` (H, W) float32 I0(x) in frame coordinates; ``psi`` Ψ(t) (relative drift + flicker);
    ``phi`` Φ(t), the varying specular term in grey levels."""

    field: np.ndarray
    psi: SmoothCurve
    phi: SmoothCurve


@dataclass(frozen=True)
class Scene:
    """One video's draws. ``pulse_amplitude`` is 0 for a no-pulse clip (``has_pulse`` False); ``pulse``
    is drawn either way. ``background`` is (H, W, 3) float32 grey levels at I0 = 1. ``noise_seed`` seeds
    each frame's sensor noise as ``default_rng([noise_seed, frame])``. ``camera``: the exposure and
    white-balance gains; ``expressions``: blinks and mouth motion."""

    width: int
    height: int
    pulse: PulseModel
    has_pulse: bool
    pulse_amplitude: float
    face: FaceMaps
    background: np.ndarray
    lighting: Lighting
    motion: Motion
    noise_std: float
    noise_seed: int
    skin_tone: str
    camera: CameraGains
    expressions: Expressions


def spawn_seed(seed: int | np.random.SeedSequence, *keys: int) -> np.random.SeedSequence:
    """The SeedSequence at ``keys`` below ``seed`` (an int or a SeedSequence), without mutating it."""
    base = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    return np.random.SeedSequence(base.entropy, spawn_key=tuple(base.spawn_key) + tuple(keys))


def _stream(seed: np.random.SeedSequence, name: str) -> np.random.Generator:
    return np.random.default_rng(spawn_seed(seed, _STREAMS[name]))


def draw_pulse(seed: int | np.random.SeedSequence, config: SyntheticConfig) -> tuple[PulseModel, float]:
    """The pulse model and relative pulse amplitude that :func:`draw_scene` draws for ``seed`` (cheap:
    labels without building the face). The amplitude is returned even for a no-pulse config."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    return _draw_pulse(ss, config)


def _draw_pulse(ss: np.random.SeedSequence, cfg: SyntheticConfig) -> tuple[PulseModel, float]:
    """The pulse from the ``pulse`` stream; the beat jitter (when on) from its own ``beats`` stream, so
    switching it on changes no other draw."""
    rng = _stream(ss, "pulse")
    beat_seed = int(_stream(ss, "beats").integers(2**62)) if cfg.beat_jitter > 0 else None
    model = draw_pulse_model(rng, hr_range_bpm=cfg.hr_bpm, respiration_depth=cfg.respiration_depth,
                             respiration_hz=cfg.respiration_hz, hr_drift=cfg.hr_drift,
                             dicrotic_ratio=cfg.dicrotic_ratio, beat_jitter=cfg.beat_jitter, beat_seed=beat_seed)
    return model, float(rng.uniform(*cfg.pulse_amplitude))


def _draw_background(rng: np.random.Generator, width: int, height: int, geo: FaceGeometry,
                     framing: str) -> np.ndarray:
    """(H, W, 3) float32 static room: a smoothly shaded wall with a few soft panels, and (in the scene
    framing) a shirt below the neck. Draws the same numbers whatever the framing."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    xn, yn = x / width, y / height
    wall = rng.uniform(70, 190, 3)
    shade = 1.0 + 0.12 * np.cos(2 * np.pi * (rng.uniform(0.3, 1.2) * xn + rng.uniform(0, 1))) \
        * np.cos(2 * np.pi * (rng.uniform(0.2, 0.8) * yn + rng.uniform(0, 1)))
    img = wall * shade[..., None]  # (H, W, 3)
    for _ in range(3):
        x0, y0 = rng.uniform(0, 1, 2)
        w, h = rng.uniform(0.05, 0.25, 2)
        across = np.clip((0.5 * w - np.abs(xn - x0)) * width, 0, 1)  # (H, W) soft-edged box
        panel = across * np.clip((0.5 * h - np.abs(yn - y0)) * height, 0, 1)
        img += (rng.uniform(40, 210, 3) - img) * panel[..., None]
    shirt_rgb = rng.uniform(20, 200, 3)
    if framing != "crop":
        shirt = _shirt_mask(x, y, geo)
        img += (shirt_rgb - img) * shirt[..., None]
    return img.astype(np.float32)


def _shirt_mask(x: np.ndarray, y: np.ndarray, geo: FaceGeometry) -> np.ndarray:
    """(H, W) soft mask of the shoulders: below 1.3 face half-heights from the face centre, rounded
    up towards the neck, 2.6 face half-widths to either side."""
    across = (x + 0.5 - geo.cx) / geo.rx
    shoulder_line = geo.cy + geo.ry * (1.3 + 0.25 * np.clip(1.2 - np.abs(across), 0, None) ** 2)
    return np.clip(y - shoulder_line, 0, 1) * np.clip((2.6 - np.abs(across)) * geo.rx, 0, 1)


def _webcam_geometry(rng: np.random.Generator, width: int, height: int, cfg: SyntheticConfig) -> FaceGeometry:
    """The webcam framing's face: ``face_width_px`` wide (scaled by width / 640), a little off-centre."""
    face_width = rng.uniform(*cfg.face_width_px) * width / 640.0
    ry = face_width / 2.0 / WIDTH_OVER_HEIGHT
    if 2.0 * ry > 0.9 * height:
        raise ValueError(f"SyntheticConfig: a face {face_width:.0f} pixels wide does not fit a {width}×{height} "
                         "webcam frame; use a larger frame (640x480) or smaller face_width_px")
    cx = width / 2.0 + rng.uniform(-0.08, 0.08) * width
    cy = height * 0.45 + rng.uniform(-0.04, 0.04) * height
    return FaceGeometry(cx=cx, cy=cy, rx=WIDTH_OVER_HEIGHT * ry, ry=ry)


def _draw_face(rng: np.random.Generator, width: int, height: int, cfg: SyntheticConfig,
               geo: FaceGeometry | None = None) -> tuple[FaceMaps, str]:
    names = sorted(SKIN_TONES)
    drawn = names[int(rng.integers(len(names)))]
    tone_name = cfg.skin_tone or drawn
    skin_rgb = np.array(SKIN_TONES[tone_name]) * rng.uniform(0.95, 1.05, 3)
    hair_rgb = _HAIR_COLOURS[int(rng.integers(len(_HAIR_COLOURS)))] * rng.uniform(0.9, 1.1)
    if geo is None:
        geo = FaceGeometry.for_frame(width, height, cfg.resolved_face_height, cfg.framing)
    face = build_face(width, height, geometry=geo, skin_rgb=skin_rgb, hair_rgb=hair_rgb,
                      hairline=float(rng.uniform(-0.78, -0.66)), delay_s=cfg.pulse_delay_s,
                      specular_level=cfg.specular_level)
    return face, tone_name


def _draw_light_field(rng: np.random.Generator, width: int, height: int, cfg: SyntheticConfig) -> np.ndarray:
    """I0(x): brightness times a linear gradient of relative size ``light_gradient`` across the frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    direction = rng.uniform(0, 2 * np.pi)
    brightness = rng.uniform(*cfg.brightness)
    ramp = (x / width - 0.5) * np.cos(direction) + (y / height - 0.5) * np.sin(direction)
    return (brightness * (1.0 + cfg.light_gradient * ramp)).astype(np.float32)


def _draw_motion(rng: np.random.Generator, cfg: SyntheticConfig, face_px: float) -> Motion:
    """Slow drifts plus one periodic movement in ``motion_hz`` (a nod: vertical shift + rotation)."""
    slow = [SmoothCurve.draw(rng, std=std, band_hz=_SLOW_MOTION_HZ, anchored=True)
            for std in (cfg.motion_translation * face_px, cfg.motion_translation * face_px,
                        cfg.motion_rotation_deg, cfg.motion_scale)]
    freq, phase, tilt = rng.uniform(*cfg.motion_hz), rng.uniform(0, 2 * np.pi), rng.uniform(-0.5, 0.5)
    amp = cfg.motion_periodic * face_px
    nod = [SmoothCurve.sinusoid(freq_hz=freq, amplitude=a, phase=phase)
           for a in (amp * np.sin(tilt), amp * np.cos(tilt), 30.0 * cfg.motion_periodic)]
    return Motion(dx=_add(slow[0], nod[0]), dy=_add(slow[1], nod[1]), angle=_add(slow[2], nod[2]),
                  scale=slow[3])


def _add(a: SmoothCurve, b: SmoothCurve) -> SmoothCurve:
    return SmoothCurve(freqs=np.r_[a.freqs, b.freqs], amps=np.r_[a.amps, b.amps],
                       phases=np.r_[a.phases, b.phases], offset=a.offset + b.offset)


def _draw_lighting(rng: np.random.Generator, cfg: SyntheticConfig, field: np.ndarray,
                   motion: Motion) -> Lighting:
    """Ψ = slow drift (+ flicker); Φ = slow specular change + a part following the head's rotation."""
    psi = SmoothCurve.draw(rng, std=cfg.illumination_drift, band_hz=_ILLUMINATION_HZ)
    flicker_phase = rng.uniform(0, 2 * np.pi)
    if cfg.flicker_hz is not None:
        psi = _add(psi, SmoothCurve.sinusoid(freq_hz=cfg.flicker_hz, amplitude=cfg.flicker_amplitude,
                                             phase=flicker_phase))
    phi = SmoothCurve.draw(rng, std=0.6 * cfg.specular_variation, band_hz=_SPECULAR_HZ)
    if cfg.motion_rotation_deg > 0:
        gain = 0.8 * cfg.specular_variation / cfg.motion_rotation_deg  # grey levels per degree
        phi = _add(phi, SmoothCurve(freqs=motion.angle.freqs, amps=gain * motion.angle.amps,
                                    phases=motion.angle.phases, offset=gain * motion.angle.offset))
    return Lighting(field=field, psi=psi, phi=phi)


def draw_scene(seed: int | np.random.SeedSequence, *, width: int, height: int,
               config: SyntheticConfig) -> Scene:
    """Draw one video's scene. Same (seed, size, config) → same scene, bit for bit."""
    if width < 16 or height < 16:
        raise ValueError(f"synthetic frames must be at least 16×16 pixels, got {width}×{height}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    pulse, amplitude = _draw_pulse(ss, config)
    rng = _stream(ss, "appearance")
    geo = _webcam_geometry(_stream(ss, "framing"), width, height, config) if config.framing == "webcam" else None
    face, tone_name = _draw_face(rng, width, height, config, geo)
    background = _draw_background(rng, width, height, face.geometry, config.framing)
    field = _draw_light_field(rng, width, height, config)
    motion = _draw_motion(_stream(ss, "motion"), config, face_px=2.0 * face.geometry.ry)
    lighting = _draw_lighting(_stream(ss, "light"), config, field, motion)
    noise_seed = int(_stream(ss, "noise").integers(2**62))
    camera = CameraGains(_stream(ss, "camera"), exposure_drift=config.exposure_drift,
                         white_balance_drift=config.white_balance_drift)
    expressions = Expressions(_stream(ss, "expressions"), blink_rate_per_min=config.blink_rate_per_min,
                              mouth_motion=config.mouth_motion)
    return Scene(width=width, height=height, pulse=pulse, has_pulse=not config.no_pulse,
                 pulse_amplitude=0.0 if config.no_pulse else amplitude, face=face, background=background,
                 lighting=lighting, motion=motion, noise_std=config.noise_std, noise_seed=noise_seed,
                 skin_tone=tone_name, camera=camera, expressions=expressions)
