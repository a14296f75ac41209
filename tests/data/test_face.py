import pickle

import cv2
import numpy as np
import pytest

from sspd.data.face import (DEFAULT_FACE_FRACTION, FaceCropper, HaarFaceDetector, crop_box, enlarge_box)

H, W, SQ = 96, 128, 20  # frame size and side of the bright square the test detector finds


def draw_face(*, height=240, width=320, cx=160, cy=120, s=100, seed=0):
    """A cartoon frontal face (skin ellipse, hair, eyes with brows, nose, mouth) that the Haar cascade finds."""
    img = np.full((height, width, 3), (90, 110, 130), np.uint8)
    cv2.ellipse(img, (cx, cy), (int(s * 0.42), int(s * 0.55)), 0, 0, 360, (205, 160, 135), -1)
    cv2.ellipse(img, (cx, cy - int(s * 0.42)), (int(s * 0.45), int(s * 0.2)), 0, 180, 360, (50, 35, 25), -1)
    ey, ex = cy - int(s * 0.12), int(s * 0.17)
    for sx in (-1, 1):
        cv2.ellipse(img, (cx + sx * ex, ey), (int(s * 0.09), int(s * 0.045)), 0, 0, 360, (240, 240, 240), -1)
        cv2.circle(img, (cx + sx * ex, ey), int(s * 0.035), (40, 30, 30), -1)
        cv2.line(img, (cx + sx * ex - int(s * 0.1), ey - int(s * 0.09)),
                 (cx + sx * ex + int(s * 0.1), ey - int(s * 0.1)), (60, 40, 30), max(2, int(s * 0.03)))
    cv2.line(img, (cx, ey + int(s * 0.05)), (cx - int(s * 0.04), cy + int(s * 0.12)), (150, 110, 95),
             max(2, int(s * 0.02)))
    cv2.ellipse(img, (cx, cy + int(s * 0.28)), (int(s * 0.13), int(s * 0.04)), 0, 0, 360, (150, 70, 70), -1)
    img = cv2.GaussianBlur(img, (0, 0), s * 0.012)
    noise = np.random.default_rng(seed).normal(0, 2, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def bright_square_detector(grey):
    """A real detector for synthetic frames: the bounding box of the bright pixels, or nothing."""
    ys, xs = np.nonzero(grey > 127)
    if len(xs) == 0:
        return np.zeros((0, 4), dtype=np.int64)
    return np.array([[xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]])


def square_frames(positions):
    """Black frames with a white SQ×SQ square whose top-left corner is at each (x, y); None = no square."""
    frames = []
    for pos in positions:
        frame = np.zeros((H, W, 3), np.uint8)
        if pos is not None:
            x, y = pos
            frame[y:y + SQ, x:x + SQ] = 255
        frames.append(frame)
    return frames


def geometry_of(pos):
    x, y = pos
    return np.array([x + SQ / 2, y + SQ / 2, SQ], dtype=np.float64)


def cropper(**kw):
    kw.setdefault("detector", bright_square_detector)
    kw.setdefault("size", 16)
    kw.setdefault("smooth_window", 1)
    return FaceCropper(**kw)


def run(crop_maker, frames, **crop_kw):
    crops = crop_maker.crop(lambda: iter(frames), source="clip.avi", **crop_kw)
    out = list(crops)
    return np.stack([c for c, _ in out]), np.stack([b for _, b in out]), crops.stats


def reference_every_boxes(positions, every_n, no_face):
    """Slow reference of the 'every' strategy without smoothing: per frame, the geometry from the detection
    attempts (every N frames and the last one) by the documented rules."""
    n = len(positions)
    attempts = [t for t in range(n) if t % every_n == 0 or t == n - 1]
    found = {a: (None if positions[a] is None else geometry_of(positions[a])) for a in attempts}
    out, paths = [], []
    for t in range(n):
        a = max(x for x in attempts if x <= t)
        later = [x for x in attempts if x > t]
        earlier_ok = [found[x] for x in attempts if x <= t and found[x] is not None]
        if found[a] is not None:
            b = later[0] if later else None
            if t == a:
                geom, path = found[a], "detected"
            elif b is not None and found[b] is not None:
                geom, path = found[a] + (t - a) / (b - a) * (found[b] - found[a]), "tracked"
            else:
                geom, path = found[a], "tracked"
        elif no_face == "reuse" and earlier_ok:
            geom, path = earlier_ok[-1], "reused"
        else:
            side = earlier_ok[-1][2] if earlier_ok else DEFAULT_FACE_FRACTION * min(H, W)
            geom, path = np.array([W / 2, H / 2, side]), "centre"
        out.append(enlarge_box(geom, frame_hw=(H, W), enlarge="square1.5"))
        paths.append(path)
    return np.stack(out), paths


# --- the real Haar cascade -------------------------------------------------------------------------

def test_haar_cascade_finds_a_drawn_face_where_it_is():
    frame = draw_face(height=480, width=640, cx=250, cy=260, s=200)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    boxes = HaarFaceDetector()(grey)
    assert boxes.shape[1] == 4 and len(boxes) >= 1
    x, y, w, h = boxes[np.argmax(boxes[:, 2] * boxes[:, 3])]
    assert abs(x + w / 2 - 250) < 20 and abs(y + h / 2 - 260) < 30 and 150 < w < 300
    # through the cropper: detection on a 320-wide grey copy, geometry back in full-frame pixels
    cx, cy, side = FaceCropper(detect_width=320).detect(frame)
    assert abs(cx - (x + w / 2)) < 8 and abs(cy - (y + h / 2)) < 8 and abs(side - max(w, h)) < 16


def test_haar_cascade_finds_nothing_in_a_plain_frame_and_pickles():
    detector = HaarFaceDetector()
    assert detector(np.full((240, 320), 128, np.uint8)).shape == (0, 4)
    clone = pickle.loads(pickle.dumps(detector))  # worker processes rebuild the OpenCV classifier
    assert len(clone(cv2.cvtColor(draw_face(), cv2.COLOR_RGB2GRAY))) >= 1


def test_haar_cascade_errors():
    with pytest.raises(FileNotFoundError, match="no_such_cascade.xml"):
        HaarFaceDetector(cascade="no_such_cascade.xml")
    with pytest.raises(ValueError, match="scale_factor"):
        HaarFaceDetector(scale_factor=1.0)


# --- box geometry and cropping ---------------------------------------------------------------------

def test_enlarge_box_square_and_sspd_margins():
    geom = np.array([100.0, 80.0, 40.0])
    np.testing.assert_array_equal(enlarge_box(geom, frame_hw=(200, 200)), [70, 50, 130, 110])  # 1.5 × 40
    # sspd: 1.6 × 40 = 64, centre moved up by 0.1 × 40 = 4
    np.testing.assert_array_equal(enlarge_box(geom, frame_hw=(200, 200), enlarge="sspd"), [68, 44, 132, 108])
    # a centre outside the frame is pulled back to the edge so the crop overlaps the frame
    x0, y0, x1, y1 = enlarge_box(np.array([-30.0, 500.0, 40.0]), frame_hw=(200, 200))
    assert (x0 + x1) / 2 == 0 and (y0 + y1) / 2 == 199 and x1 - x0 == y1 - y0 == 60
    with pytest.raises(ValueError, match="unknown enlargement 'wide'.*square1.5"):
        enlarge_box(geom, frame_hw=(200, 200), enlarge="wide")


@pytest.mark.parametrize("pad,mode", [("edge", "edge"), ("zero", "constant")])
@pytest.mark.parametrize("box", [(10, 12, 40, 42), (-15, -7, 25, 33), (100, 70, 150, 120), (-20, -20, 150, 150)])
def test_crop_box_equals_padded_slice(pad, mode, box):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    margin = 200
    padded = np.pad(frame, ((margin, margin), (margin, margin), (0, 0)), mode=mode)
    x0, y0, x1, y1 = box
    expected = padded[y0 + margin:y1 + margin, x0 + margin:x1 + margin]
    np.testing.assert_array_equal(crop_box(frame, np.array(box), size=x1 - x0, pad=pad), expected)


def test_crop_box_downscale_is_the_block_mean():
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    crop = crop_box(frame, np.array([8, 4, 72, 68]), size=16)  # 64 → 16: 4×4 blocks
    blocks = frame[4:68, 8:72].astype(np.float64).reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    assert crop.shape == (16, 16, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(crop, blocks, atol=1.0)


def test_crop_box_errors():
    frame = np.zeros((H, W, 3), np.uint8)
    with pytest.raises(ValueError, match="does not overlap"):
        crop_box(frame, np.array([W + 5, 0, W + 25, 20]), size=8)
    with pytest.raises(ValueError, match="pad must be one of"):
        crop_box(frame, np.array([0, 0, 10, 10]), size=8, pad="mirror")


# --- strategies and no-face policies with a real injected detector ---------------------------------

@pytest.mark.parametrize("no_face", ["reuse", "centre"])
def test_every_strategy_matches_the_reference(no_face):
    positions = [(5 + 3 * t, 10 + t) for t in range(23)]
    for t in (0, 1, 10, 11, 12, 13):  # missing on the first detection and on the one at frame 10
        positions[t] = None
    frames = square_frames(positions)
    _, boxes, stats = run(cropper(every_n=5, no_face=no_face), frames)
    expected, paths = reference_every_boxes(positions, 5, no_face)
    np.testing.assert_array_equal(boxes, expected)
    for path in ("detected", "tracked", "reused", "centre"):
        assert getattr(stats, path) == paths.count(path), path
    assert stats.frames == 23 and stats.attempts == 6 and stats.found == 4 and stats.first_missing == 0


def test_first_strategy_keeps_the_first_face_box():
    positions = [None, None] + [(10 + 2 * t, 20) for t in range(10)]
    _, boxes, stats = run(cropper(strategy="first"), square_frames(positions))
    first = enlarge_box(geometry_of(positions[2]), frame_hw=(H, W))
    np.testing.assert_array_equal(boxes[2:], np.tile(first, (10, 1)))
    # before any face, 'reuse' has nothing to reuse: a centred box of the default size, counted as such
    centre = enlarge_box(np.array([W / 2, H / 2, DEFAULT_FACE_FRACTION * H]), frame_hw=(H, W))
    np.testing.assert_array_equal(boxes[:2], np.tile(centre, (2, 1)))
    assert (stats.attempts, stats.detected, stats.tracked, stats.centre) == (3, 1, 9, 2)


def test_median_strategy_uses_the_median_box_of_the_video():
    positions = [(10 + 4 * t, 30) for t in range(12)]
    frames = square_frames(positions)
    _, boxes, stats = run(cropper(strategy="median", every_n=4), frames)
    median = np.median([geometry_of(positions[t]) for t in (0, 4, 8)], axis=0)
    np.testing.assert_array_equal(boxes, np.tile(enlarge_box(median, frame_hw=(H, W)), (12, 1)))
    assert (stats.attempts, stats.detected, stats.tracked) == (3, 3, 9)
    with pytest.raises(ValueError, match="clip.avi.*reads the video twice"):
        cropper(strategy="median").crop(iter(frames), source="clip.avi")


def test_smoothing_is_the_median_of_the_last_detections():
    positions = [(30, 30)] * 4 + [(90, 60)] + [(32, 30)] * 4  # one outlier detection at frame 4
    _, boxes, _ = run(cropper(every_n=1, smooth_window=3), square_frames(positions))
    raw = [geometry_of(p) for p in positions]
    for t in range(len(positions)):
        expected = np.median(raw[max(0, t - 2):t + 1], axis=0)
        np.testing.assert_array_equal(boxes[t], enlarge_box(expected, frame_hw=(H, W)))
    assert boxes[4][0] < 40  # the outlier did not move the box


def test_no_face_error_names_the_video_and_frame():
    frames = square_frames([(10, 10)] * 5 + [None] * 3)
    with pytest.raises(ValueError, match=r"clip.avi: no face found in frame 5"):
        run(cropper(every_n=5, no_face="error"), frames)
    with pytest.raises(ValueError, match=r"clip.avi: no face found in any of 2 detections"):
        run(cropper(strategy="median", every_n=5, no_face="error"), square_frames([None] * 8))


def test_detection_on_downscaled_frames_maps_back_to_full_pixels():
    big = np.zeros((4 * H, 4 * W, 3), np.uint8)
    big[100:180, 200:280] = 255  # an 80×80 square centred at (240, 140)
    cx, cy, side = cropper(detect_width=W).detect(big)  # detection runs at a quarter of the size
    assert abs(cx - 240) <= 2 and abs(cy - 140) <= 2 and abs(side - 80) <= 4


def test_crops_hold_the_face_and_frames_are_streamed():
    positions = [(20 + t, 30) for t in range(40)]
    frames = square_frames(positions)
    produced = []

    def stream():
        for frame in frames:
            produced.append(1)
            yield frame

    crop_maker = cropper(every_n=8, size=30)  # 1.5 × 20 → 30: no resampling
    held = []
    for emitted, (crop, box) in enumerate(crop_maker.crop(stream, source="clip.avi"), start=1):
        held.append(len(produced) - emitted)
        assert crop[15, 15].tolist() == [255, 255, 255] and crop[0, 0].tolist() == [0, 0, 0]
    assert max(held) <= 8 + 1  # at most every_n frames wait for their box (+ one of look-ahead)


def test_cropper_input_errors():
    with pytest.raises(ValueError, match="unknown strategy 'all'"):
        FaceCropper(strategy="all", detector=bright_square_detector)
    with pytest.raises(ValueError, match="unknown no_face 'skip'"):
        FaceCropper(no_face="skip", detector=bright_square_detector)
    with pytest.raises(ValueError, match="every_n must be an integer >= 1"):
        FaceCropper(every_n=0, detector=bright_square_detector)
    with pytest.raises(ValueError, match="clip.avi: the video has no frames"):
        run(cropper(), [])
    with pytest.raises(ValueError, match="clip.avi: frame 1 is not an H×W×3 uint8"):
        run(cropper(), [np.zeros((H, W, 3), np.uint8), np.zeros((H, W, 3), np.float32)])
    with pytest.raises(ValueError, match="clip.avi: frame 2 is 64×48, the first frame 128×96"):
        run(cropper(), [np.zeros((H, W, 3), np.uint8)] * 2 + [np.zeros((48, 64, 3), np.uint8)])
