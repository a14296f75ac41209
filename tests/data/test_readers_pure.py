"""PURE reader: PNG frames with ns timestamps, JSON oximeter log at ~60 Hz, setups."""
import json
import pickle

import cv2
import numpy as np
import pytest

from sspd.data import open_dataset

T0_NS = 1_392_643_990_000_000_000  # an absolute clock, as in the real files


def pulse(t):
    return np.sin(2 * np.pi * 1.1 * t) + 0.25 * np.sin(2 * np.pi * 2.2 * t)


def write_session(root, name, *, n=20, seed=0, json_inside=False, label_seconds=1.0, waveform=None):
    """Frames at a jittered ~30 fps clock, oximeter at 60 Hz on the same clock."""
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True)
    stamps = T0_NS + np.cumsum(rng.integers(30_000_000, 37_000_000, size=n)).astype(np.int64)
    frames = rng.integers(0, 256, size=(n, 24, 32, 3), dtype=np.uint8)
    for ns, frame in zip(stamps, frames):
        assert cv2.imwrite(str(folder / f"Image{ns}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    label_ns = stamps[0] - 10_000_000 + (np.arange(int(60 * label_seconds)) * 1e9 / 60).astype(np.int64)
    t = (label_ns - stamps[0]) / 1e9
    wave = pulse(t) if waveform is None else waveform(t)
    package = [{"Timestamp": int(ns), "Value": {"pulseRate": 72, "o2saturation": 97, "signalStrength": 3,
                                                "waveform": float(w)}} for ns, w in zip(label_ns, wave)]
    doc = {"/FullPackage": package, "/Image": [{"Timestamp": int(ns)} for ns in stamps]}
    json_path = (folder if json_inside else root) / f"{name}.json"
    json_path.write_text(json.dumps(doc, indent=1).replace("\n", "\r\n"))
    return folder, frames, stamps


def test_frames_times_and_label_aligned_to_image_timestamps(tmp_path):
    _, frames, stamps = write_session(tmp_path, "01-02")
    (record,) = open_dataset("pure", tmp_path)
    record = pickle.loads(pickle.dumps(record))  # records travel to preprocessing workers
    assert (record.subject, record.session, record.n_frames) == ("01", "02", 20)
    assert record.metadata["setup"] == 2 and record.metadata["setup_name"] == "talking"
    expected_times = (stamps - stamps[0]) / 1e9
    np.testing.assert_allclose(record.frame_times, expected_times, atol=1e-9)
    assert record.fps == pytest.approx(19 / expected_times[-1])
    np.testing.assert_array_equal(np.stack(list(record.read_frames())), frames)
    np.testing.assert_allclose(record.ppg, pulse(expected_times), atol=5e-3)
    np.testing.assert_allclose(record.metadata["hr"], 72.0)
    assert record.metadata["json_image_count"] == 20


def test_json_inside_folder_and_setup_selection(tmp_path):
    write_session(tmp_path, "01-01", seed=1)
    write_session(tmp_path, "01-02", seed=2, json_inside=True)
    write_session(tmp_path, "02-02", seed=3)
    assert [r.name for r in open_dataset("pure", tmp_path)] == ["01_01", "01_02", "02_02"]
    assert [r.name for r in open_dataset("pure", tmp_path, setups=[2])] == ["01_02", "02_02"]
    assert [r.name for r in open_dataset("pure", tmp_path, filters={"setup": ["01"]})] == ["01_01"]
    with pytest.raises(ValueError, match=r"valid keys: setup"):
        open_dataset("pure", tmp_path, filters={"motion": ["steady"]})
    with pytest.raises(ValueError, match=r"setups=\[6\] match no session folder; setups present: \[1, 2\]"):
        open_dataset("pure", tmp_path, setups=[6])
    with pytest.raises(ValueError, match="match none of the 3 videos"):
        open_dataset("pure", tmp_path, filters={"setup": 6})


def test_broken_sessions_are_named_failures(tmp_path):
    write_session(tmp_path, "01-01")
    write_session(tmp_path, "02-01", seed=1, label_seconds=0.05)  # oximeter log stops early
    folder, _, _ = write_session(tmp_path, "03-01", seed=2)
    (tmp_path / "03-01.json").unlink()
    folder4, _, _ = write_session(tmp_path, "04-01", seed=3, waveform=lambda t: np.where(t > 0.3, np.nan, t))
    empty = tmp_path / "05-01"
    empty.mkdir()
    (tmp_path / "05-01.json").write_text("{}")
    records = open_dataset("pure", tmp_path)
    assert [r.name for r in records] == ["01_01"]
    messages = {f.name: f.message for f in records.failures}
    assert "02-01.json" in messages["02_01"] and "uncovered" in messages["02_01"]
    assert "03-01.json" in messages["03_01"] and "no ground truth" in messages["03_01"]
    assert "04-01.json" in messages["04_01"] and "NaN" in messages["04_01"]
    assert "05-01" in messages["05_01"] and "no Image<timestamp-ns>.png" in messages["05_01"]


def test_malformed_json_names_the_file(tmp_path):
    write_session(tmp_path, "01-01")
    doc = json.loads((tmp_path / "01-01.json").read_text())
    del doc["/FullPackage"][3]["Value"]["waveform"]
    (tmp_path / "01-01.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"01-01.json: /FullPackage entry 3 has no numeric Value.waveform"):
        open_dataset("pure", tmp_path, on_error="raise")
    (tmp_path / "01-01.json").write_text("{not json")
    with pytest.raises(ValueError, match="01-01.json: not valid JSON"):
        open_dataset("pure", tmp_path, on_error="raise")


def test_not_a_pure_root(tmp_path):
    (tmp_path / "subject1").mkdir()
    with pytest.raises(ValueError, match="no XX-YY session folders .* is this PURE"):
        open_dataset("pure", tmp_path)


def test_the_distributed_nested_layout_reads_as_is(tmp_path):
    """As the authors' archives unpack: ROOT/01-03/01-03/Image<ns>.png with ROOT/01-03/01-03.json."""
    outer = tmp_path / "01-03"
    _, frames, stamps = write_session(outer, "01-03", seed=4)  # frames in outer/01-03, the JSON in outer
    assert (outer / "01-03.json").is_file()
    (record,) = open_dataset("pure", tmp_path, on_error="raise")
    assert (record.subject, record.session, record.n_frames) == ("01", "03", 20)
    assert record.metadata["label_file"] == outer / "01-03.json"
    np.testing.assert_array_equal(np.stack(list(record.read_frames())), frames)
    np.testing.assert_allclose(record.ppg, pulse((stamps - stamps[0]) / 1e9), atol=5e-3)
