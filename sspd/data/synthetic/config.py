"""Every knob of the synthetic video model, with documented defaults, in one dataclass.

The model (docs/data_formats.md, after Wang et al., "Algorithmic principles of remote PPG", IEEE TBME 2017),
per pixel x and frame t:

    RGB = I0(x)·(1+Ψ(t)) · warp_t( tone(x)·(1 + a(x)·u_p·p(t−τ(x)))
                                   + u_s·skin(x)·(s0(x)+Φ(t)) ) + noise

then rounded to 8 bits. ``I0(x)`` is the scene light (a brightness and a gradient across the frame, in
frame coordinates, so a moving head changes its own brightness as in a real room), ``Ψ`` the
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

from sspd.signal import DEFAULT_BAND_BPM, check_fs

__all__ = ["SyntheticConfig", "SKIN_TONES", "FRAMINGS"]

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
FRAMINGS = ("scene", "crop")

_RANGES = ("hr_bpm", "respiration_depth", "respiration_hz", "dicrotic_ratio", "pulse_amplitude",
           "brightness", "motion_hz")


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
        framing: ``"scene"`` or ``"crop"`` (see :data:`FRAMINGS`).
        face_height: face height (hairline to chin) as a fraction of the frame height; None picks the
            framing's default (0.5 for scene, 0.8 for crop).
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
    Sensor and label:
        noise_std: Gaussian sensor noise (grey levels), added before rounding so a pulse under one grey
            level survives as dither.
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
        if self.face_height is not None and not 0.1 <= self.face_height <= 1.2:
            raise ValueError(f"SyntheticConfig: face_height {self.face_height} must be in [0.1, 1.2] "
                             "(a fraction of the frame height)")
        if self.flicker_hz is not None and self.flicker_hz <= 0:
            raise ValueError(f"SyntheticConfig: flicker_hz must be > 0 or None, got {self.flicker_hz}")
        check_fs(self.label_fs, name="SyntheticConfig: label_fs")

    @property
    def resolved_face_height(self) -> float:
        """The face height fraction in use: ``face_height`` or the framing's default."""
        if self.face_height is not None:
            return self.face_height
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
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

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
