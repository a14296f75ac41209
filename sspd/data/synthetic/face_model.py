"""The static face of the synthetic model, in face coordinates at the output resolution.

A frontal face is drawn as soft shading: a lit ellipsoid with darker eye sockets and brows above
brighter cheeks, a bright nose bridge, dark nostrils and mouth, hair around the top and a neck below.
That light/dark layout is what OpenCV's frontal-face Haar cascade keys on, so the rendered face is
detectable: in the "scene" framing with default motion, in every sampled frame from 640×480 down to
96×72 and in about 19 of 20 at 64×48 (face about 24 pixels high). Features are Gaussian blobs in normalised face
coordinates ``u`` (across, -1..1 over the face width) and ``v`` (down, -1..1 from hairline to chin), so
the face looks the same at any resolution.

Outputs are maps over the frame grid (H, W) with the face at its rest position; the renderer warps them
per frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FaceMaps", "FaceGeometry", "build_face", "WIDTH_OVER_HEIGHT"]

# (u, v, su, sv, log-brightness): shading features on the skin (negative = darker).
_SHADING = (
    (-0.38, -0.13, 0.24, 0.12, -0.75),  # eye sockets
    (0.38, -0.13, 0.24, 0.12, -0.75),
    (0.0, -0.10, 0.09, 0.22, 0.18),  # nose bridge
    (0.0, 0.20, 0.10, 0.07, 0.10),  # nose tip
    (-0.09, 0.32, 0.05, 0.035, -0.8),  # nostrils
    (0.09, 0.32, 0.05, 0.035, -0.8),
    (0.0, 0.37, 0.16, 0.04, -0.35),  # shadow under the nose
    (-0.47, 0.18, 0.20, 0.20, 0.10),  # cheeks
    (0.47, 0.18, 0.20, 0.20, 0.10),
    (0.0, -0.55, 0.45, 0.18, 0.08),  # forehead
    (0.0, 0.78, 0.35, 0.08, -0.25),  # under the lower lip / chin fold
)
# (u, v, su, sv, weight): non-skin regions blended over the skin (no pulse there).
_BROWS = ((-0.38, -0.34, 0.22, 0.045, 1.0), (0.38, -0.34, 0.22, 0.045, 1.0))
_EYES = ((-0.38, -0.12, 0.12, 0.045, 1.0), (0.38, -0.12, 0.12, 0.045, 1.0))
_IRISES = ((-0.38, -0.12, 0.045, 0.045, 1.0), (0.38, -0.12, 0.045, 0.045, 1.0))
_MOUTH = ((0.0, 0.58, 0.24, 0.055, 1.0),)
# (u, v, su, sv, weight): where the pulse is strongest (forehead, cheeks) relative to the rest.
_PERFUSION = ((0.0, -0.5, 0.5, 0.2, 0.6), (-0.45, 0.2, 0.25, 0.22, 0.5), (0.45, 0.2, 0.25, 0.22, 0.5))

# Where blinks and mouth motion act: the eyelids cover a little more than the eye; the open mouth is a
# dark slit between the lips. Masks are cut to exactly 0 below _REGION_FLOOR, so nothing outside them changes.
_EYELIDS = ((-0.38, -0.12, 0.15, 0.07, 1.0), (0.38, -0.12, 0.15, 0.07, 1.0))
_MOUTH_OPENING = ((0.0, 0.58, 0.17, 0.035, 1.0),)
_REGION_FLOOR = 0.02
_LID_SHADE = 0.85  # the closed lid: the skin colour under half the eye socket's shading, a little darker
_MOUTH_INSIDE = np.array([45.0, 22.0, 22.0])

_SCLERA = np.array([215.0, 210.0, 200.0])
_IRIS = np.array([45.0, 35.0, 30.0])
_LIPS_FACTOR = np.array([0.62, 0.42, 0.42])  # lips: the skin tone shifted to a darker red
WIDTH_OVER_HEIGHT = 0.78


@dataclass(frozen=True)
class FaceGeometry:
    """Where the face sits at rest in the frame: centre (cx, cy) and half-axes (rx, ry), pixels."""

    cx: float
    cy: float
    rx: float
    ry: float

    @classmethod
    def for_frame(cls, width: int, height: int, face_height: float, framing: str) -> "FaceGeometry":
        """Centre the face (slightly high in a scene, as people sit) with the given height fraction."""
        ry = 0.5 * face_height * height
        cy = height * (0.45 if framing == "scene" else 0.5)
        return cls(cx=width / 2.0, cy=cy, rx=WIDTH_OVER_HEIGHT * ry, ry=ry)


@dataclass(frozen=True)
class FaceMaps:
    """Static maps of one face at rest, over the (H, W) frame grid.

    Attributes:
        alpha: (H, W) float32 coverage of the head layer (face, hair, neck) in [0, 1].
        tone: (H, W, 3) float32 reflectance·shading in grey levels (the colour at I0 = 1), NOT
            premultiplied by alpha.
        skin: (H, W) float32 skin weight in [0, 1] (0 on hair, brows, eyes, mouth and off the head).
        perfusion: (H, W) float32 relative pulse amplitude over the skin (mean 1 over the skin).
        delay: (H, W) float32 pulse arrival delay τ(x) in seconds (0 at the chin, largest at the top).
        specular: (H, W) float32 static specular highlight s0(x) in grey levels (on the skin).
        geometry: the face's rest position.
        eyes: (H, W) float32 weight in [0, 1] of the eyelids' region (exactly 0 outside it).
        mouth: (H, W) float32 weight in [0, 1] of the mouth opening (exactly 0 outside it).
        eyelid: (H, W, 3) float32 colour of the closed eyelids (grey levels at I0 = 1).
        mouth_inside: (3,) float32 colour of the open mouth's inside.
    """

    alpha: np.ndarray
    tone: np.ndarray
    skin: np.ndarray
    perfusion: np.ndarray
    delay: np.ndarray
    specular: np.ndarray
    geometry: FaceGeometry
    eyes: np.ndarray
    mouth: np.ndarray
    eyelid: np.ndarray
    mouth_inside: np.ndarray


def _blobs(u: np.ndarray, v: np.ndarray, blobs: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Sum of weighted Gaussian blobs over the (H, W) grid."""
    out = np.zeros_like(u)
    for u0, v0, su, sv, weight in blobs:
        out += weight * np.exp(-0.5 * (((u - u0) / su) ** 2 + ((v - v0) / sv) ** 2))
    return out


def _soft_inside(signed: np.ndarray, edge: float) -> np.ndarray:
    """Soft indicator of ``signed > 0`` with a ramp about ``edge`` wide (anti-aliased edges)."""
    return 0.5 * (1.0 + np.tanh(signed / max(edge, 1e-6)))


def _face_grid(width: int, height: int, geo: FaceGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Normalised face coordinates (u, v), each (H, W) float64, at the pixel centres."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return (x + 0.5 - geo.cx) / geo.rx, (y + 0.5 - geo.cy) / geo.ry


def _head_regions(u: np.ndarray, v: np.ndarray, px: float, hairline: float) -> dict[str, np.ndarray]:
    """Soft masks (H, W): the face oval, the hair cap and the neck. ``px`` is one pixel in u units."""
    narrowing = 1.0 - 0.18 * np.clip(v, 0.0, None) ** 2  # the jaw narrows towards the chin
    r = np.sqrt((u / narrowing) ** 2 + v**2)
    face = _soft_inside(1.0 - r, px)
    head = _soft_inside(1.12 - np.sqrt(u**2 + (v / 1.05) ** 2), px)
    hair_top = _soft_inside(hairline + 0.12 * u**2 - v, 2 * px)
    hair_side = _soft_inside(-0.05 - v, 4 * px) * _soft_inside(np.abs(u) - 0.8, 2 * px)
    hair = head * np.clip(hair_top + hair_side, 0.0, 1.0)
    neck = _soft_inside(0.55 - np.abs(u), px) * _soft_inside(v - 0.6, px)
    return {"face": face, "hair": hair, "neck": neck * (1.0 - face)}


def _shading(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Brightness multiplier (H, W): a frontally lit ellipsoid times the feature shading."""
    depth = np.sqrt(np.clip(1.0 - u**2 - 0.6 * v**2, 0.0, 1.0))  # surface normal's z component
    return (0.55 + 0.45 * depth) * np.exp(_blobs(u, v, _SHADING))


def _paint(skin_rgb: np.ndarray, hair_rgb: np.ndarray, u: np.ndarray, v: np.ndarray,
           regions: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Colour (H, W, 3) and skin weight (H, W) of the head layer."""
    skin_tone = skin_rgb * _shading(u, v)[..., None]
    neck_tone = skin_rgb * 0.7
    brows = np.clip(_blobs(u, v, _BROWS), 0, 1) * regions["face"]
    eyes = np.clip(_blobs(u, v, _EYES), 0, 1) * regions["face"]
    irises = np.clip(_blobs(u, v, _IRISES), 0, 1)
    mouth = np.clip(_blobs(u, v, _MOUTH), 0, 1) * regions["face"]
    eye_rgb = (_SCLERA * (1 - irises[..., None]) + _IRIS * irises[..., None]) * 0.8
    hair = regions["hair"]
    layers = [(brows, hair_rgb), (eyes, eye_rgb), (mouth, skin_tone * _LIPS_FACTOR), (hair, hair_rgb)]
    tone = skin_tone * regions["face"][..., None] + neck_tone * regions["neck"][..., None]
    skin = regions["face"] + regions["neck"]
    for weight, colour in layers:
        w = weight[..., None]
        tone = tone * (1 - w) + colour * w
        skin = skin * (1 - weight)
    return tone, skin


def build_face(width: int, height: int, *, geometry: FaceGeometry, skin_rgb: np.ndarray,
               hair_rgb: np.ndarray, hairline: float = -0.72, delay_s: float = 0.04,
               specular_level: float = 12.0) -> FaceMaps:
    """Build the face's static maps over a W×H frame.

    Args:
        width, height: frame size in pixels.
        geometry: the face's rest position (see :meth:`FaceGeometry.for_frame`).
        skin_rgb: (3,) skin colour in grey levels; hair_rgb: (3,) hair colour.
        hairline: v of the hairline at the centre (-1 is the top of the face oval).
        delay_s: pulse arrival delay at the top of the face relative to the chin, seconds.
        specular_level: peak of the static specular highlights (grey levels).
    """
    u, v = _face_grid(width, height, geometry)
    px = 1.0 / geometry.rx
    regions = _head_regions(u, v, px, hairline)
    tone, skin = _paint(np.asarray(skin_rgb, np.float64), np.asarray(hair_rgb, np.float64), u, v, regions)
    alpha = np.clip(regions["face"] + regions["hair"] + regions["neck"], 0.0, 1.0)
    skin = np.clip(skin, 0.0, 1.0)
    perfusion = (0.7 + _blobs(u, v, _PERFUSION)) * np.where(regions["neck"] > 0.5, 0.5, 1.0)
    perfusion /= max(float(np.sum(perfusion * skin) / max(np.sum(skin), 1e-9)), 1e-9)
    delay = delay_s * np.clip((1.0 - v) / 2.0, 0.0, 1.0)
    highlights = ((0.0, -0.55, 0.25, 0.1, 1.0), (0.0, 0.18, 0.05, 0.05, 0.8),
                  (-0.45, 0.1, 0.1, 0.08, 0.4), (0.45, 0.1, 0.1, 0.08, 0.4))
    specular = specular_level * np.clip(_blobs(u, v, highlights), 0, 1) * skin
    eyes = _region(_blobs(u, v, _EYELIDS) * regions["face"])
    mouth = _region(_blobs(u, v, _MOUTH_OPENING) * regions["face"])
    eyelid = np.asarray(skin_rgb, np.float64) * (_LID_SHADE * np.sqrt(_shading(u, v)))[..., None]
    f32 = np.float32
    return FaceMaps(alpha=alpha.astype(f32), tone=tone.astype(f32), skin=skin.astype(f32),
                    perfusion=perfusion.astype(f32), delay=delay.astype(f32),
                    specular=specular.astype(f32), geometry=geometry, eyes=eyes.astype(f32),
                    mouth=mouth.astype(f32), eyelid=eyelid.astype(f32), mouth_inside=_MOUTH_INSIDE.astype(f32))


def _region(weight: np.ndarray) -> np.ndarray:
    """``weight`` clipped to [0, 1] and cut to exactly 0 below the floor (a region with a hard outside)."""
    weight = np.clip(weight, 0.0, 1.0)
    return np.where(weight < _REGION_FLOOR, 0.0, weight)
