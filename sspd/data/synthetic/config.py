"""Every knob of the synthetic video model, with documented defaults, in one dataclass.

The model (docs/data_formats.md, after Wang et al., "Algorithmic principles of remote PPG", IEEE TBME 2017),
per pixel x and frame t:

    RGB = I0(x)·(1+Ψ(t)) · warp_t( tone(x)·(1 + a(x)·u_p·p(t−τ(x)))
                                   + u_s·skin(x)·(s0(x)+Φ(t)) ) + noise

then multiplied by the camera's exposure and white-balance gains G_c(t) (1 unless ``exposure_drift`` or
``white_balance_drift`` is set), rounded to 8 bits and, with ``crf`` set, H.264-compressed. ``I0(x)``
is the scene light (a brightness and a gradient across the frame, in frame coordinates, so a moving head changes its own brightness as in a real room), ``Ψ`` the
illumination drift and flicker, ``a(x)`` the relative pulsatile amplitude (zero off the skin), ``τ(x)``
the pulse arrival delay across the face, ``s0``/``Φ`` the static and varying specular reflection along
``u_s = [1, 1, 1]``, and ``warp_t`` the head motion (translation, scale, rotation about the face centre).

Ranges given as ``(low, high)`` are drawn uniformly per video; scalars are fixed. The defaults are a
realistic but learnable setting: a 0.2-0.6 % pulse, illumination drift and specular changes a few times
larger, moderate head motion, sensor noise of 1.5 grey levels.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from sspd.data.synthetic.face_model import WIDTH_OVER_HEIGHT
from sspd.signal import DEFAULT_BAND_BPM, check_fs

__all__ = ["SyntheticConfig", "SKIN_TONES", "FRAMINGS", "PRESETS", "CRF_RANGE"]

# Mean skin colours (8-bit sRGB) from light to dark; one is drawn per video unless ``skin_tone`` names it.
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "light": (226.0, 188.0, 166.0),
    "fair": (210.0, 163.0, 135.0),
    "medium": (190.0, 140.0, 108.0),
    "olive": (170.0, 126.0, 92.0),
    "brown": (135.0, 94.0, 68.0),
    "dark": (98.0, 68.0, 52.0),
}

# "scene": a face in a room, about half the frame high, as in UBFC-rPPG (for face detection and
# preprocessing); "crop": the face fills the frame as an already-cropped face box (for training clips).
# "webcam": a 640×480-style frame with the face 150-250 pixels wide (drawn per video), so a face crop is
# resampled from the frame as on real webcam video.
FRAMINGS = ("scene", "crop", "webcam")

#: H.264 constant rate factors x264 accepts (0 lossless-ish, 51 the worst); 18-23 looks clean, 28 is a
#: typical webcam or phone video call, 35+ shows blocks.
CRF_RANGE = (0, 51)

# Named starting points of :meth:`SyntheticConfig.from_preset`; other knobs keep their defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "realistic": {"framing": "webcam", "crf": 28, "exposure_drift": 0.03, "white_balance_drift": 0.01,
                  "blink_rate_per_min": (10.0, 20.0), "mouth_motion": 0.5},
}

_RANGES = ("hr_bpm", "respiration_depth", "respiration_hz", "dicrotic_ratio", "pulse_amplitude",
           "brightness", "motion_hz", "face_width_px", "blink_rate_per_min")


@dataclass(frozen=True)
class SyntheticConfig:
    """The synthetic model's knobs. ``(low, high)`` tuples are drawn uniformly per video.

    Pulse:
        hr_bpm: mean heart rate range (bpm); docs/data_formats.md asks for 45-150 (the library's band,
            :data:`sspd.signal.DEFAULT_BAND_BPM`).
        respiration_depth: relative HR modulation by breathing (respiratory sinus arrhythmia), 3-5 %.
        respiration_hz: breathing rate (Hz), 0.15-0.4.
        hr_drift: relative std of the slow HR drift (components below 0.03 Hz).
        beat_jitter: beat-to-beat variability: the relative std of a random component of each inter-beat
            interval, on top of the breathing and drift of HR(t) (0.02-0.05 at rest). 0 (default) keeps
            the smooth pulse phase; > 0 makes a beat train whose true beat times are recorded
            (``beat_times_s`` in the sidecar and the records' metadata), the ground truth of HRV.
        dicrotic_ratio: second-harmonic amplitude relative to the fundamental (the dicrotic wave).
        pulse_amplitude: relative pulsatile amplitude along ``u_p`` (std of a(x)·p over the skin, as a
            fraction of the pixel value); 0.1-1 % is the physiological range.
        pulse_delay_s: spread of pulse arrival times over the face (s); forehead later than the chin.
        no_pulse: render negative clips: every other draw is unchanged, the pulsatile term is zero and
            the labels are zero (``has_pulse`` False in the metadata).
    Appearance:
        skin_tone: one of :data:`SKIN_TONES`, or None to draw one per video.
        framing: ``"scene"``, ``"crop"`` or ``"webcam"`` (see :data:`FRAMINGS`).
        face_height: face height (hairline to chin) as a fraction of the frame height; None picks the
            framing's default (0.5 for scene, 0.8 for crop); not used by the webcam framing.
        face_width_px: webcam framing: range of the face width (pixels of a 640-wide frame; other frame
            widths scale it), drawn per video; 150-250 is a person at a laptop or phone camera.
        blink_rate_per_min: eye blinks per minute, drawn per video (e.g. (10, 20) at rest); each blink
            closes the eyes over 0.15-0.35 s, touching only the eye regions. (0, 0) (default): no blinks.
        mouth_motion: how far the mouth opens and closes (0 = never, 1 = fully), a talking-like smooth
            motion at 0.5-3 Hz that darkens the mouth region only. 0 (default): still mouth.
    Illumination:
        brightness: I0, the scene light level (1 = the skin tone's nominal colour).
        light_gradient: relative change of I0 across the frame, along a random direction.
        illumination_drift: relative std of the slow drift of Ψ (components below 0.2 Hz).
        flicker_hz: a periodic distractor: light flicker at this frequency (Hz), e.g. inside the HR band;
            None for no flicker.
        flicker_amplitude: relative amplitude of that flicker (a fraction of the light level).
        specular_level: peak of the static specular highlights s0 (grey levels).
        specular_variation: std of the time-varying specular term Φ (grey levels), driven partly by
            the head's rotation.
    Motion (fractions of the face height; degrees for rotation):
        motion_translation: std of the slow head translation.
        motion_rotation_deg: std of the slow in-plane rotation.
        motion_scale: std of the slow relative scale change (moving towards/away from the camera).
        motion_periodic: amplitude of a periodic head movement (nodding, talking), a fraction of
            the face height; its rotation is 30x this in degrees.
        motion_hz: frequency range of that periodic movement (Hz); it overlaps the HR band on purpose.
    Camera:
        noise_std: Gaussian sensor noise (grey levels), added before rounding so a pulse under one grey
            level survives as dither.
        exposure_drift: relative std of the camera's auto-exposure gain, one slow multiplicative gain on
            every channel (components 0.01-0.3 Hz), applied to the sensor signal (after the noise).
        white_balance_drift: relative std of the camera's white-balance gains on the red and blue
            channels (green is the reference, as cameras do), slow (0.005-0.1 Hz), after the noise.
        crf: H.264 (x264, yuv420p, preset medium) constant rate factor the frames are compressed with,
            0-51 (28: a typical webcam or phone call); None (default): no compression. ``sspd synth``
            writes such a video encoded at this CRF; clips and on-the-fly videos go through an
            encode-decode round trip.
        preset: the name of the :meth:`from_preset` these knobs started from (a record; None if none).
    Label:
        label_fs: sample rate (Hz) of the written oximeter label, deliberately not the frame rate.
        label_jitter_s: jitter (s) of the label timestamps, as a real oximeter's clock has.
    """

    hr_bpm: tuple[float, float] = DEFAULT_BAND_BPM
    respiration_depth: tuple[float, float] = (0.03, 0.05)
    respiration_hz: tuple[float, float] = (0.15, 0.4)
    hr_drift: float = 0.02
    beat_jitter: float = 0.0
    dicrotic_ratio: tuple[float, float] = (0.25, 0.5)
    pulse_amplitude: tuple[float, float] = (0.002, 0.006)
    pulse_delay_s: float = 0.04
    no_pulse: bool = False
    skin_tone: str | None = None
    framing: str = "scene"
    face_height: float | None = None
    brightness: tuple[float, float] = (0.85, 1.05)
    light_gradient: float = 0.15
    illumination_drift: float = 0.01
    flicker_hz: float | None = None
    flicker_amplitude: float = 0.01
    specular_level: float = 12.0
    specular_variation: float = 1.0
    motion_translation: float = 0.02
    motion_rotation_deg: float = 2.0
    motion_scale: float = 0.015
    motion_periodic: float = 0.004
    motion_hz: tuple[float, float] = (0.5, 3.0)
    noise_std: float = 1.5
    label_fs: float = 60.0
    label_jitter_s: float = 0.001
    face_width_px: tuple[float, float] = (150.0, 250.0)
    blink_rate_per_min: tuple[float, float] = (0.0, 0.0)
    mouth_motion: float = 0.0
    exposure_drift: float = 0.0
    white_balance_drift: float = 0.0
    crf: int | None = None
    preset: str | None = None

    def __post_init__(self) -> None:
        _check_finite(self)
        for name in _RANGES:
            _check_range(name, getattr(self, name))
        _check_physiology(self)
        _check_nonnegative(self)
        if self.skin_tone is not None and self.skin_tone not in SKIN_TONES:
            raise ValueError(f"SyntheticConfig: skin_tone {self.skin_tone!r} is not one of "
                             f"{sorted(SKIN_TONES)} (or None to draw one per video)")
        if self.framing not in FRAMINGS:
            raise ValueError(f"SyntheticConfig: framing {self.framing!r} must be one of {FRAMINGS}")
        _check_camera(self)
        if self.face_height is not None and not 0.1 <= self.face_height <= 1.2:
            raise ValueError(f"SyntheticConfig: face_height {self.face_height} must be in [0.1, 1.2] "
                             "(a fraction of the frame height)")
        if self.flicker_hz is not None and self.flicker_hz <= 0:
            raise ValueError(f"SyntheticConfig: flicker_hz must be > 0 or None, got {self.flicker_hz}")
        check_fs(self.label_fs, name="SyntheticConfig: label_fs")

    @classmethod
    def from_preset(cls, name: str, **changes: Any) -> "SyntheticConfig":
        """A named starting point (:data:`PRESETS`) with ``changes`` applied over it.

        ``"realistic"``: the webcam framing (face 150-250 px wide in a 640×480 frame), H.264 at CRF 28,
        auto-exposure (3 %) and white-balance (1 %) drift, 10-20 blinks a minute and some mouth motion,
        on top of the default pulse, light, motion and noise.
        """
        if name not in PRESETS:
            raise ValueError(f"SyntheticConfig: unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
        return cls(**{**PRESETS[name], "preset": name, **changes})

    @classmethod
    def _config_base(cls, values: Any, base: Any) -> Any:
        """The base a run config's ``synthetic`` section is built over: the named preset when the section
        sets ``preset`` (its other keys then override the preset), else ``base``."""
        name = values.get("preset") if hasattr(values, "get") else None
        return base if name is None else cls.from_preset(name)

    @property
    def resolved_face_height(self) -> float:
        """The face height fraction in use: ``face_height`` or the framing's default (the webcam framing
        draws its face per video; this is the middle of ``face_width_px`` at 480 pixels high)."""
        if self.face_height is not None:
            return self.face_height
        if self.framing == "webcam":
            return sum(self.face_width_px) / 2.0 / WIDTH_OVER_HEIGHT / 480.0
        return 0.5 if self.framing == "scene" else 0.8

    def replace(self, **changes: Any) -> "SyntheticConfig":
        """A copy with some knobs changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of every knob (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SyntheticConfig":
        """Build from :meth:`to_dict` output or a YAML mapping; unknown keys raise with the valid ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"SyntheticConfig: unknown option(s) {unknown}; valid: {sorted(known)}")
        knobs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        if knobs.get("preset") is not None:
            return cls.from_preset(knobs.pop("preset"), **knobs)
        return cls(**knobs)

    def scale_nuisances(self, *, motion: float = 1.0, illumination: float = 1.0) -> "SyntheticConfig":
        """A copy with every motion knob times ``motion`` and every illumination/specular change knob
        (drift, gradient, specular variation, flicker amplitude) times ``illumination``; 0 switches
        them off, 2 doubles them."""
        if not (math.isfinite(motion) and math.isfinite(illumination) and motion >= 0 and illumination >= 0):
            raise ValueError(f"nuisance scales must be finite numbers >= 0, got motion={motion}, "
                             f"illumination={illumination}")
        return self.replace(
            motion_translation=self.motion_translation * motion,
            motion_rotation_deg=self.motion_rotation_deg * motion,
            motion_scale=self.motion_scale * motion, motion_periodic=self.motion_periodic * motion,
            illumination_drift=self.illumination_drift * illumination,
            light_gradient=min(self.light_gradient * illumination, 0.95),
            specular_variation=self.specular_variation * illumination,
            flicker_amplitude=self.flicker_amplitude * illumination)

    @classmethod
    def still(cls, **changes: Any) -> "SyntheticConfig":
        """No motion, constant light and no specular change: the pulse and sensor noise only."""
        quiet: dict[str, Any] = dict(
            hr_drift=0.0, illumination_drift=0.0, specular_variation=0.0, motion_translation=0.0,
            motion_rotation_deg=0.0, motion_scale=0.0, motion_periodic=0.0, light_gradient=0.0)
        quiet.update(changes)
        return cls(**quiet)


def _check_finite(cfg: SyntheticConfig) -> None:
    """Every numeric knob (and each end of a range) must be a finite number: NaN passes every comparison
    and would render black frames."""
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, (int, float)) and not isinstance(item, bool) and not math.isfinite(item):
                raise ValueError(f"SyntheticConfig: {field.name} must be a finite number, got {value!r}")


def _check_range(name: str, value: Any) -> None:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise ValueError(f"SyntheticConfig: {name} must be a (low, high) tuple, got {value!r}")
    low, high = value
    if not low <= high:
        raise ValueError(f"SyntheticConfig: {name} = {value}: low must not exceed high")


def _check_physiology(cfg: SyntheticConfig) -> None:
    if not (20.0 <= cfg.hr_bpm[0] and cfg.hr_bpm[1] <= 240.0):
        raise ValueError(f"SyntheticConfig: hr_bpm {cfg.hr_bpm} must lie within 20-240 bpm")
    if cfg.pulse_amplitude[1] > 0.05 or cfg.pulse_amplitude[0] < 0:
        raise ValueError(f"SyntheticConfig: pulse_amplitude {cfg.pulse_amplitude} is a fraction of the "
                         "pixel value and must lie in [0, 0.05] (physiological: 0.001-0.01)")
    if cfg.respiration_depth[0] < 0 or cfg.respiration_depth[1] >= 0.5:
        raise ValueError(f"SyntheticConfig: respiration_depth {cfg.respiration_depth} must lie in [0, 0.5)")
    if not 0 <= cfg.beat_jitter < 0.2:
        raise ValueError(f"SyntheticConfig: beat_jitter {cfg.beat_jitter} must lie in [0, 0.2) (a relative std "
                         "of the inter-beat intervals; 0.02-0.05 at rest)")
    if cfg.respiration_hz[0] <= 0 or cfg.motion_hz[0] <= 0:
        raise ValueError("SyntheticConfig: respiration_hz and motion_hz must be > 0")


def _check_camera(cfg: SyntheticConfig) -> None:
    """The webcam framing, expression and camera knobs."""
    if cfg.preset is not None and cfg.preset not in PRESETS:
        raise ValueError(f"SyntheticConfig: unknown preset {cfg.preset!r}; valid: {', '.join(sorted(PRESETS))}")
    if cfg.crf is not None and (isinstance(cfg.crf, bool) or not isinstance(cfg.crf, int)
                                or not CRF_RANGE[0] <= cfg.crf <= CRF_RANGE[1]):
        raise ValueError(f"SyntheticConfig: crf {cfg.crf!r} must be an integer in {CRF_RANGE[0]}-{CRF_RANGE[1]} "
                         "(28: a typical webcam or phone call) or None for no compression")
    if not (40.0 <= cfg.face_width_px[0] and cfg.face_width_px[1] <= 480.0):
        raise ValueError(f"SyntheticConfig: face_width_px {cfg.face_width_px} must lie within 40-480 pixels "
                         "(of a 640-wide frame; 150-250 for a webcam)")
    if not (0.0 <= cfg.blink_rate_per_min[0] and cfg.blink_rate_per_min[1] <= 60.0):
        raise ValueError(f"SyntheticConfig: blink_rate_per_min {cfg.blink_rate_per_min} must lie within 0-60 "
                         "(10-20 at rest)")
    if not 0.0 <= cfg.mouth_motion <= 1.0:
        raise ValueError(f"SyntheticConfig: mouth_motion {cfg.mouth_motion} must lie in [0, 1]")
    if not (0.0 <= cfg.exposure_drift < 0.3 and 0.0 <= cfg.white_balance_drift < 0.3):
        raise ValueError(f"SyntheticConfig: exposure_drift ({cfg.exposure_drift}) and white_balance_drift "
                         f"({cfg.white_balance_drift}) must lie in [0, 0.3) (relative gains; 0.01-0.05 is typical)")
    if cfg.framing == "webcam" and cfg.face_height is not None:
        raise ValueError("SyntheticConfig: face_height does not apply to the webcam framing, which draws the face "
                         "width per video: set face_width_px instead (or face_height: null)")


def _check_nonnegative(cfg: SyntheticConfig) -> None:
    names = ("hr_drift", "pulse_delay_s", "light_gradient", "illumination_drift", "flicker_amplitude",
             "specular_level", "specular_variation", "motion_translation", "motion_rotation_deg",
             "motion_scale", "motion_periodic", "noise_std", "label_jitter_s")
    for name in names:
        if getattr(cfg, name) < 0:
            raise ValueError(f"SyntheticConfig: {name} must be >= 0, got {getattr(cfg, name)}")
    if cfg.dicrotic_ratio[0] < 0 or cfg.brightness[0] <= 0:
        raise ValueError("SyntheticConfig: dicrotic_ratio must be >= 0 and brightness > 0")
    if cfg.hr_drift >= 0.3 or cfg.light_gradient >= 1.0 or cfg.illumination_drift >= 0.3:
        raise ValueError("SyntheticConfig: hr_drift and illumination_drift must be < 0.3, "
                         "light_gradient < 1 (they are relative changes)")
