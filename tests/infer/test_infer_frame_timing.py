"""Per-frame timestamps: a variable-frame-rate video is timed by its frames' own timestamps and resampled
to a uniform grid before the HR; a constant-rate one is left as it was."""
import numpy as np
import pytest

from sspd.data.video import TimedVideoFrames, write_video
from sspd.infer.frame_timing import resolve_timing
from sspd.infer.predict import predict_video

_SEGMENT, _CLUSTER, _TIMESTAMP, _SIMPLE_BLOCK = 0x18538067, 0x1F43B675, 0xE7, 0xA3


def _vint(buf, pos, marker):
    """(value, length) of the EBML variable-length integer at ``pos`` (an element id keeps its marker)."""
    first, length = buf[pos], 1
    while not first & (0x80 >> (length - 1)):
        length += 1
    value = first if marker else first & (0xFF >> length)
    for byte in buf[pos + 1:pos + length]:
        value = (value << 8) | byte
    return value, length


def _blocks(buf, start, end, found, cluster_ms=0):
    """Collect (cluster time in ms, offset of the block's 16-bit relative time) of every SimpleBlock."""
    pos = start
    while pos < end:
        element, n = _vint(buf, pos, marker=True)
        size, m = _vint(buf, pos + n, marker=False)
        body = pos + n + m
        stop = end if size == (1 << (7 * m)) - 1 else body + size  # "unknown size": to the parent's end
        if element in (_SEGMENT, _CLUSTER):
            _blocks(buf, body, stop, found)
        elif element == _TIMESTAMP:
            cluster_ms = int.from_bytes(buf[body:stop], "big")
        elif element == _SIMPLE_BLOCK:
            found.append((cluster_ms, body + _vint(buf, body, marker=False)[1]))
        pos = stop
    return found


def retime_mkv(path, times_ms):
    """Give frame i of a Matroska file (1 ms time base, as OpenCV/FFmpeg write it) the time
    ``times_ms[i]``, in place: only each block's 16-bit time relative to its cluster changes."""
    buf = bytearray(path.read_bytes())
    blocks = _blocks(buf, 0, len(buf), [])
    assert len(blocks) == len(times_ms), (len(blocks), len(times_ms))
    for (cluster_ms, offset), t in zip(blocks, times_ms):
        buf[offset:offset + 2] = int(t - cluster_ms).to_bytes(2, "big", signed=True)
    path.write_bytes(bytes(buf))


def pulse_frames(times_s, bpm, size=40):
    """A skin-coloured patch pulsing at ``bpm`` at the given frame times (the true times, not i/fps)."""
    rng = np.random.default_rng(3)
    colour = np.array([175.0, 130.0, 110.0]) * (1 + 0.01 * np.array([0.33, 0.77, 0.53])
                                                * np.sin(2 * np.pi * bpm / 60 * times_s)[:, None])  # (T, 3)
    frames = colour[:, None, None, :] + 2.0 * rng.standard_normal((len(times_s), size, size, 3))
    return np.clip(np.round(frames), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory):
    """A phone dropping from 30 to 20 fps half way (the light fell), each interval jittered by up to 3 ms."""
    n = 360
    jitter = np.random.default_rng(0).integers(-3, 4, size=n - 1)
    intervals_ms = np.where(np.arange(n - 1) < n // 2, 33, 50) + jitter
    times_ms = np.concatenate([[0.0], np.cumsum(intervals_ms)])  # (T,)
    path = tmp_path_factory.mktemp("vfr") / "phone.mkv"
    write_video(path, pulse_frames(times_ms / 1e3, bpm=72.0), fps=25.0)
    retime_mkv(path, times_ms)
    return path, times_ms


def test_the_frames_own_timestamps_are_read_back(vfr_video):
    path, times_ms = vfr_video
    reader = TimedVideoFrames(path)
    assert sum(1 for _ in reader()) == len(times_ms)
    np.testing.assert_allclose(reader.times_ms, times_ms, atol=0.5)


def test_variable_frame_rate_is_resampled_and_recorded(vfr_video):
    path, times_ms = vfr_video
    p = predict_video(path, window_s=8.0)
    mean_fps = (len(times_ms) - 1) / (times_ms[-1] / 1e3)
    assert p.timing.source == "container timestamps" and p.timing.resampled
    assert p.fps == pytest.approx(mean_fps, rel=1e-6)
    assert p.timing.interval_ms[0] == pytest.approx(min(np.diff(times_ms)), abs=0.5)
    assert p.timing.interval_ms[2] == pytest.approx(max(np.diff(times_ms)), abs=0.5)
    assert abs(p.hr_bpm - 72.0) < 1.5
    np.testing.assert_allclose(np.diff(p.frame_times), 1 / mean_fps)  # the uniform grid
    timing = p.as_dict()["timing"]
    assert timing["resampled"] is True and timing["fps"] == pytest.approx(mean_fps)
    assert any("variable frame rate" in note for note in p.notes)


def test_equal_spacing_assumed_on_a_vfr_video_gives_the_wrong_hr(vfr_video):
    """What timing by CAP_PROP_FPS alone did: the same video read as equally spaced frames."""
    path, times_ms = vfr_video
    mean_fps = (len(times_ms) - 1) / (times_ms[-1] / 1e3)
    naive = predict_video(path, fps=mean_fps, window_s=6.0)
    timed = predict_video(path, window_s=6.0)
    assert naive.timing.source == "equal spacing" and "--fps" in naive.timing.note
    assert max(abs(w.hr_bpm - 72.0) for w in timed.windows) < 2.0  # right before and after the change
    assert max(abs(w.hr_bpm - 72.0) for w in naive.windows) > 10.0  # 30 fps read as 24: 20 % slow


def test_constant_rate_timestamps_keep_the_stated_rate_and_are_not_resampled(tmp_path):
    path = tmp_path / "cfr.avi"
    write_video(path, pulse_frames(np.arange(250) / 25.0, bpm=66.0), fps=25.0)
    p = predict_video(path, window_s=8.0)
    assert p.timing.source == "container timestamps" and not p.timing.resampled and p.fps == 25.0
    np.testing.assert_array_equal(p.frame_times, np.arange(250) / 25.0)


def test_resolve_timing_falls_back_to_equal_spacing_and_says_why():
    signal = np.arange(5.0)
    for times, why in ((None, "no frame timestamps"), (np.array([0, 1, 1, 2, 3.0]), "not strictly increasing"),
                       (np.arange(4.0), "4 timestamps for 5 frames")):
        out, grid, timing = resolve_timing(signal, times, 10.0)
        assert timing.source == "equal spacing" and why in timing.note and not timing.resampled
        np.testing.assert_array_equal(grid, np.arange(5) / 10.0)
    # 1 ms container rounding at 30 fps (33/34 ms) is not a variable rate
    out, grid, timing = resolve_timing(signal, np.array([0, 0.033, 0.067, 0.100, 0.133]), 30.0)
    assert not timing.resampled and timing.fps == 30.0 and out is signal
    # a real rate change is: the signal is interpolated at the uniform grid
    times = np.array([0, 0.1, 0.2, 0.4, 0.5])
    out, grid, timing = resolve_timing(times * 10, times, 10.0)
    assert timing.resampled and timing.fps == pytest.approx(8.0)
    np.testing.assert_allclose(out, grid * 10)


def write_timed_mkv(path, frames, times_ms, nominal_fps):
    """A Matroska file whose frames carry ``times_ms`` as their own timestamps while the stream states
    ``nominal_fps`` (what a phone's variable-frame-rate recording looks like); lossless FFV1, via PyAV."""
    import fractions

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=nominal_fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, 1000)  # no rounding to 1/30 s
        for frame, t in zip(frames, times_ms):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = int(round(t)), fractions.Fraction(1, 1000)
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def slow_vfr(tmp_path_factory):
    """Nominal 30 fps, 16 fps on average: stretches at 30 fps and at 9 fps, a pulse at 72 bpm."""
    intervals = np.where((np.arange(199) // 20) % 2 == 0, 1000 / 30, 1000 / 9)
    times_ms = np.round(np.concatenate([[0.0], np.cumsum(intervals)]))  # (200,) ms
    path = tmp_path_factory.mktemp("slow_vfr") / "phone.mkv"
    return write_timed_mkv(path, pulse_frames(times_ms / 1e3, bpm=72.0), times_ms, 30), times_ms


def test_a_slow_variable_frame_rate_video_is_not_taken_for_a_truncated_one(slow_vfr):
    from sspd.data.video import container_info, stream_timing

    path, times_ms = slow_vfr
    assert container_info(path)[1] > 300                      # what OpenCV declares: duration x nominal 30 fps
    stream = stream_timing(path)
    np.testing.assert_allclose(stream.times_s * 1e3, times_ms, atol=0.5)
    p = predict_video(path, window_s=8.0)
    mean_fps = (len(times_ms) - 1) / (times_ms[-1] / 1e3)
    assert p.fps == pytest.approx(mean_fps, rel=1e-3) and p.timing.resampled
    assert not any("truncated" in note for note in p.notes)
    assert abs(p.hr_bpm - 72.0) < 2.0
    assert p.frames_decoded == 200 and p.frames_declared is None   # Matroska declares no count: no made-up 418


def test_a_milder_variable_frame_rate_gets_no_false_truncation_note(tmp_path):
    intervals = np.where((np.arange(239) // 30) % 2 == 0, 1000 / 30, 1000 / 24)
    times_ms = np.round(np.concatenate([[0.0], np.cumsum(intervals)]))
    path = write_timed_mkv(tmp_path / "mild.mkv", pulse_frames(times_ms / 1e3, bpm=66.0), times_ms, 30)
    p = predict_video(path, window_s=8.0)
    assert not any("truncated" in note for note in p.notes) and abs(p.hr_bpm - 66.0) < 2.0


def test_a_truncated_variable_frame_rate_video_is_still_refused(slow_vfr, tmp_path):
    path, _ = slow_vfr
    cut = tmp_path / "cut.mkv"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])                    # a copy that stopped half way
    with pytest.raises(ValueError, match=r"cut\.mkv: .*truncated"):
        predict_video(cut, window_s=4.0)


def test_predict_video_of_none_is_one_clear_error():
    with pytest.raises(TypeError, match="predict_video: path must be a video file or image folder"):
        predict_video(None)
