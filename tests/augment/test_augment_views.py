import pytest
import torch

from sspd.augment import ViewOptions, frame_difference, make_views, resize_clip

NO_FLIP_NO_MASK = dict(p_horizontal=0.0, p_vertical=0.0, keep_prob=1.0)


def _box(b=3, t=7, size=20, seed=0):
    return torch.rand(b, 3, t + 1, size, size, generator=torch.Generator().manual_seed(seed)) * 255


def test_shapes_and_reproducibility():
    clip = _box()
    online, target = make_views(clip, 16, torch.Generator().manual_seed(0))
    assert online.shape == target.shape == (3, 3, 7, 16, 16)
    assert online.is_contiguous() and target.is_contiguous()
    again = make_views(clip, 16, torch.Generator().manual_seed(0))
    other = make_views(clip, 16, torch.Generator().manual_seed(1))
    assert torch.equal(online, again[0]) and torch.equal(target, again[1])
    assert not torch.equal(online, other[0])


def test_both_views_share_the_time_window():
    # every pixel carries the same non-linear function of time, so any shift in time would show
    values = torch.tensor([0.0, 1.0, 4.0, 9.0, 3.0, 8.0, 2.0, 5.0, 7.0])
    clip = values[None, None, :, None, None].expand(2, 3, 9, 20, 20).contiguous()
    online, target = make_views(clip, 16, torch.Generator().manual_seed(0))
    expected = (values[1:] - values[:-1])[None, None, :, None, None].expand_as(target)
    torch.testing.assert_close(target, expected, atol=1e-4, rtol=0)
    kept = online != 0
    torch.testing.assert_close(online[kept], expected[kept], atol=1e-4, rtol=0)
    # the values change at every step, so the only zeros are masked pixels (3,584 draws, sd 0.008)
    assert abs(1.0 - float(kept[:, 0].float().mean()) - 0.3) < 0.03


def test_target_is_the_resized_box_and_corner_crop_reproduces_the_release():
    clip = _box()
    options = ViewOptions(crop="corner", **NO_FLIP_NO_MASK)
    online, target = make_views(clip, 16, torch.Generator().manual_seed(0), options)
    torch.testing.assert_close(target, frame_difference(resize_clip(clip, 16)), atol=1e-4, rtol=0)
    assert torch.equal(online, frame_difference(clip[..., :16, :16]))


def test_online_crop_offsets_are_drawn_per_sample():
    clip = _box(b=12, t=2, size=24)
    online, _ = make_views(clip, 16, torch.Generator().manual_seed(3), ViewOptions(**NO_FLIP_NO_MASK))
    diffs = frame_difference(clip)
    offsets = []
    for b in range(12):
        hits = [(y, x) for y in range(9) for x in range(9)
                if torch.equal(diffs[b, ..., y:y + 16, x:x + 16], online[b])]
        assert len(hits) == 1
        offsets.append(hits[0])
    assert len(set(offsets)) > 3


def test_flips_are_independent_between_the_views():
    clip = _box(b=40, t=2, size=8)
    options = ViewOptions(crop="corner", keep_prob=1.0)
    online, target = make_views(clip, 8, torch.Generator().manual_seed(0), options)
    base = frame_difference(clip)

    def state(view, b):
        for fx in (False, True):
            for fy in (False, True):
                candidate = base[b].flip(-1) if fx else base[b]
                candidate = candidate.flip(-2) if fy else candidate
                if torch.allclose(view[b], candidate, atol=1e-4):
                    return fx, fy
        raise AssertionError(f"sample {b} is no flip of the clip")

    same = sum(state(online, b) == state(target, b) for b in range(40))
    assert 2 < same < 25  # independent: P(same) = 1/4, so ~10 of 40


def test_photometric_options_differ_between_views():
    clip = torch.full((4, 3, 6, 8, 8), 100.0)
    options = ViewOptions(crop="corner", drift_range=(-0.3, 0.3), gain_range=(0.9, 1.1), **NO_FLIP_NO_MASK)
    online, target = make_views(clip, 8, torch.Generator().manual_seed(0), options)
    assert float(target.abs().min()) > 0  # a drifting light makes a constant face change over time
    assert not torch.allclose(online, target)
    noisy, _ = make_views(clip, 8, torch.Generator().manual_seed(0),
                          ViewOptions(noise_std=1.0, **NO_FLIP_NO_MASK))
    assert abs(float(noisy.std()) - 2 ** 0.5) < 0.1  # difference of two unit-noise frames


def test_view_errors():
    with pytest.raises(ValueError, match="crop"):
        ViewOptions(crop="top-left")
    with pytest.raises(ValueError, match="difference"):
        ViewOptions(difference="ratio")
    with pytest.raises(ValueError, match="keep_prob"):
        ViewOptions(keep_prob=-0.1)
    with pytest.raises(ValueError, match="noise_std"):
        ViewOptions(noise_std=-1.0)
    with pytest.raises(ValueError, match="does not fit"):
        make_views(_box(size=12), 16, torch.Generator())
    with pytest.raises(ValueError, match="at least 2 frames"):
        make_views(_box(t=0), 8, torch.Generator())
