import pytest
import torch
import torch.nn.functional as F

from sspd.augment import crop_clip, random_flip, resize_clip


def _clip(b=4, t=3, h=12, w=10):
    """Every value unique, so a window can be located by its content."""
    return torch.arange(b * 3 * t * h * w, dtype=torch.float32).reshape(b, 3, t, h, w)


def _find_offset(window, frames):
    """Loop reference: the (top, left) where ``window`` (C, T, h, w) sits in ``frames`` (C, T, H, W)."""
    _, _, h, w = window.shape
    hits = [(y, x) for y in range(frames.shape[2] - h + 1) for x in range(frames.shape[3] - w + 1)
            if torch.equal(frames[..., y:y + h, x:x + w], window)]
    assert len(hits) == 1
    return hits[0]


def test_random_crop_draws_one_offset_per_sample_within_the_frame():
    clip = _clip(b=16)
    crops = crop_clip(clip, (5, 4), torch.Generator().manual_seed(0))
    assert crops.shape == (16, 3, 3, 5, 4)
    found = [_find_offset(crops[b], clip[b]) for b in range(16)]
    assert len(set(found)) > 4  # 56 positions: 16 samples on a handful of offsets is vanishingly unlikely


def test_random_crop_covers_every_offset_including_both_ends():
    clip = _clip(b=400, t=1, h=6, w=6)
    crops = crop_clip(clip, 4, torch.Generator().manual_seed(1))
    tops = {int((crops[b, 0, 0, 0, 0] - clip[b, 0, 0, 0, 0]) // 6) for b in range(400)}
    lefts = {int((crops[b, 0, 0, 0, 0] - clip[b, 0, 0, 0, 0]) % 6) for b in range(400)}
    assert tops == {0, 1, 2} and lefts == {0, 1, 2}


def test_crop_is_reproducible_and_modes():
    clip = _clip()
    a = crop_clip(clip, 5, torch.Generator().manual_seed(3))
    b = crop_clip(clip, 5, torch.Generator().manual_seed(3))
    c = crop_clip(clip, 5, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(crop_clip(clip, 5, mode="corner"), clip[..., :5, :5])
    assert torch.equal(crop_clip(clip, (6, 4), mode="center"), clip[..., 3:9, 3:7])
    assert torch.equal(crop_clip(clip, (12, 10), torch.Generator()), clip)


def test_resize_matches_per_frame_interpolation_and_keeps_constants():
    clip = torch.rand(2, 3, 4, 15, 13, generator=torch.Generator().manual_seed(0))
    out = resize_clip(clip, (8, 7))
    assert out.shape == (2, 3, 4, 8, 7)
    for b in range(2):
        for t in range(4):
            frame = F.interpolate(clip[b, :, t][None], size=(8, 7), mode="bilinear", antialias=True)[0]
            torch.testing.assert_close(out[b, :, t], frame, atol=1e-6, rtol=0)
    constant = torch.full((1, 3, 2, 15, 15), 0.25)
    torch.testing.assert_close(resize_clip(constant, 9), torch.full((1, 3, 2, 9, 9), 0.25))
    assert resize_clip(clip, (15, 13)) is clip


def test_flips_are_per_sample_and_follow_the_probabilities():
    clip = _clip(b=200, t=2, h=4, w=4)
    out = random_flip(clip, torch.Generator().manual_seed(0))
    states = []
    for b in range(200):
        options = {(fx, fy): clip[b].flip(-1) if fx else clip[b] for fx in (0, 1) for fy in (0, 1)}
        options = {k: v.flip(-2) if k[1] else v for k, v in options.items()}
        match = [k for k, v in options.items() if torch.equal(out[b], v)]
        assert len(match) == 1
        states.append(match[0])
    flipped_x = sum(s[0] for s in states)
    flipped_y = sum(s[1] for s in states)
    assert 70 < flipped_x < 130 and 70 < flipped_y < 130  # Binomial(200, 0.5): ±4.2 sd
    assert torch.equal(random_flip(clip, torch.Generator(), 0.0, 0.0), clip)
    assert torch.equal(random_flip(clip, torch.Generator(), 1.0, 1.0), clip.flip(-1).flip(-2))


def test_two_flip_calls_decide_independently():
    clip = _clip(b=64, t=1, h=3, w=3)
    g = torch.Generator().manual_seed(5)
    first, second = random_flip(clip, g, 0.5, 0.0), random_flip(clip, g, 0.5, 0.0)
    same = sum(bool(torch.equal(first[b], second[b])) for b in range(64))
    assert 10 < same < 54


def test_spatial_errors():
    clip = _clip()
    with pytest.raises(ValueError, match="does not fit"):
        crop_clip(clip, 13, torch.Generator())
    with pytest.raises(ValueError, match="Generator"):
        crop_clip(clip, 5)
    with pytest.raises(ValueError, match="mode"):
        crop_clip(clip, 5, torch.Generator(), mode="left")
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        resize_clip(clip[0], 5)
    with pytest.raises(ValueError, match="floating-point"):
        resize_clip(clip.to(torch.uint8), 5)
    with pytest.raises(ValueError, match="positive"):
        resize_clip(clip, 0)
    with pytest.raises(ValueError, match="p_horizontal"):
        random_flip(clip, torch.Generator(), p_horizontal=1.5)
