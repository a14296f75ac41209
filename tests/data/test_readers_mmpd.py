"""MMPD reader: .mat files written here with scipy; lazy video loading; metadata filters."""
import pickle

import numpy as np
import pytest
import scipy.io

from sspd.data import open_dataset

FPS = 30.0
N = 24

META = {  # subject/file -> (light, motion, skin colour)
    ("subject1", "p1_0"): ("LED-low", "Stationary", 3),
    ("subject1", "p1_1"): ("LED-high", "Rotation", 3),
    ("subject2", "p2_0"): ("Incandescent", "Stationary", 5),
}


def pulse(t):
    return np.cos(2 * np.pi * 1.4 * t)


def write_mat(root, subject, stem, *, light="LED-low", motion="Stationary", skin=3, seed=0,
              label_len=N, row_label=True, compress=True, video=True, label=True):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(N, 24, 32, 3), dtype=np.uint8)  # (T, H, W, 3)
    gt = pulse(np.arange(label_len) / FPS)
    data = {"light": light, "motion": motion, "exercise": "False", "skin_color": np.array([[skin]]),
            "gender": "female", "glasser": "False", "hair_cover": "False", "makeup": "False"}
    if video:
        data["video"] = frames.astype(np.float64) / 255.0
    if label:
        data["GT_ppg"] = gt[None, :] if row_label else gt
    path = root / subject / f"{stem}.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, data, do_compression=compress)
    return path, frames


def make_dataset(root):
    out = {}
    for i, ((subject, stem), (light, motion, skin)) in enumerate(META.items()):
        out[stem] = write_mat(root, subject, stem, light=light, motion=motion, skin=skin, seed=i)[1]
    return out


@pytest.mark.parametrize("row_label, compress", [(True, True), (False, False)])
def test_frames_label_and_metadata(tmp_path, row_label, compress):
    _, frames = write_mat(tmp_path, "subject7", "p7_2", row_label=row_label, compress=compress)
    (record,) = open_dataset("mmpd", tmp_path)
    record = pickle.loads(pickle.dumps(record))  # records travel to preprocessing workers
    assert (record.subject, record.session, record.n_frames, record.fps) == ("7", "2", N, FPS)
    np.testing.assert_allclose(record.frame_times, np.arange(N) / FPS)
    np.testing.assert_allclose(record.ppg, pulse(record.frame_times), atol=1e-12)
    back = np.stack(list(record.read_frames()))
    assert back.dtype == np.uint8 and back.shape == (N, 24, 32, 3)
    np.testing.assert_array_equal(back, frames)  # u/255 -> *255 rounds back exactly
    assert record.metadata["light"] == "LED-low" and record.metadata["skin_color"] == "3"
    assert record.metadata["exercise"] == "False"


def test_open_reads_no_video_until_frames_are_read(tmp_path, monkeypatch):
    write_mat(tmp_path, "subject1", "p1_0")
    requested = []
    real_loadmat = scipy.io.loadmat

    def recording_loadmat(path, **kwargs):  # a spy: the real reader still runs
        requested.append(kwargs.get("variable_names"))
        return real_loadmat(path, **kwargs)

    monkeypatch.setattr(scipy.io, "loadmat", recording_loadmat)
    (record,) = open_dataset("mmpd", tmp_path)
    assert requested and all(names is not None and "video" not in names for names in requested)
    next(iter(record.read_frames()))
    assert requested[-1] == ["video"]


def test_metadata_filters(tmp_path):
    make_dataset(tmp_path)
    names = lambda recs: [r.name for r in recs]  # noqa: E731
    assert names(open_dataset("mmpd", tmp_path)) == ["1_0", "1_1", "2_0"]
    assert names(open_dataset("mmpd", tmp_path, filters={"motion": ["stationary"]})) == ["1_0", "2_0"]
    both = {"motion": "Stationary", "skin_color": [5, 6]}
    assert names(open_dataset("mmpd", tmp_path, filters=both)) == ["2_0"]
    assert names(open_dataset("mmpd", tmp_path, filters={"light": ["LED-low", "LED-high"]})) == ["1_0", "1_1"]
    assert names(open_dataset("mmpd", tmp_path, subjects=[2])) == ["2_0"]
    with pytest.raises(ValueError, match=r"key\(s\) \['lighting'\] for mmpd; valid keys: light, motion"):
        open_dataset("mmpd", tmp_path, filters={"lighting": ["LED-low"]})
    with pytest.raises(ValueError, match="match none of the 3 loaded mmpd records"):
        open_dataset("mmpd", tmp_path, filters={"light": "Nature"})


def test_malformed_files_are_named(tmp_path):
    write_mat(tmp_path, "subject1", "p1_0")
    write_mat(tmp_path, "subject1", "p1_1", label_len=N - 20)  # label far shorter than the video
    write_mat(tmp_path, "subject2", "p2_0", label=False)
    write_mat(tmp_path, "subject2", "p2_1", video=False)
    (tmp_path / "subject3").mkdir()
    (tmp_path / "subject3" / "p3_0.mat").write_bytes(b"MATLAB garbage" * 20)
    path, _ = write_mat(tmp_path, "subject3", "p3_1")
    raw = bytearray(path.read_bytes())
    raw[124:126] = b"\x00\x02"  # the version field of a MATLAB v7.3 (HDF5) file
    path.write_bytes(bytes(raw))
    records = open_dataset("mmpd", tmp_path)
    assert [r.name for r in records] == ["1_0"]
    messages = {f.name: f.message for f in records.failures}
    assert "p1_1.mat" in messages["1_1"] and "uncovered" in messages["1_1"]
    assert "p2_0.mat" in messages["2_0"] and "no 'GT_ppg'" in messages["2_0"]
    assert "p2_1.mat" in messages["2_1"] and "no 'video'" in messages["2_1"]
    assert "p3_0.mat" in messages["3_0"] and "cannot read" in messages["3_0"]
    assert "p3_1.mat" in messages["3_1"] and "v7.3" in messages["3_1"]


def test_out_of_range_video_values_fail_when_read(tmp_path):
    path = tmp_path / "subject1" / "p1_0.mat"
    path.parent.mkdir()
    scipy.io.savemat(path, {"video": np.full((3, 4, 4, 3), 200.0), "GT_ppg": np.zeros((1, 3))})
    (record,) = open_dataset("mmpd", tmp_path)
    with pytest.raises(ValueError, match=r"p1_0.mat: frame 0 of 'video' has NaN or values outside \[0, 1\]"):
        list(record.read_frames())


def test_not_an_mmpd_root(tmp_path):
    (tmp_path / "subject1").mkdir()
    with pytest.raises(ValueError, match=r"no subject\*/p\*_\*.mat files .* is this MMPD"):
        open_dataset("mmpd", tmp_path)
