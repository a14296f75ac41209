"""The dataset registry: names, options, roots, collected failures, the synthetic entry."""
import numpy as np
import pytest

from sspd.data import list_datasets, open_dataset, write_video
from sspd.data.readers import LoadFailure, RecordList


def test_list_datasets_names_every_format():
    assert list_datasets() == ["generic", "mmpd", "pure", "synthetic", "ubfc-rppg", "videos", "vipl-hr"]


def test_unknown_name_option_root_and_on_error(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'ubfc'; valid names: generic, mmpd, pure, synth"):
        open_dataset("ubfc", tmp_path)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['setups'\] for dataset ubfc-rppg; valid "
                                         r"options: version, video_name"):
        open_dataset("ubfc-rppg", tmp_path, setups=[1])
    with pytest.raises(FileNotFoundError, match="nowhere: no such dataset folder for pure"):
        open_dataset("pure", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="dataset mmpd needs root="):
        open_dataset("mmpd")
    with pytest.raises(ValueError, match="on_error must be one of"):
        open_dataset("pure", tmp_path, on_error="ignore")
    with pytest.raises(ValueError, match=r"valid keys: none \(this format has no metadata filters\)"):
        open_dataset("ubfc-rppg", tmp_path, filters={"light": "LED-low"})


def test_record_list_keeps_failures_and_names(tmp_path):
    failure = LoadFailure(subject="3", session="a b", source=tmp_path, message="x.txt: bad",
                          error_type="ValueError")
    records = RecordList([], dataset="pure", root=tmp_path, failures=[failure])
    assert failure.name == "3_a-b" and str(failure) == "3_a-b: x.txt: bad"
    assert records.summary() == "pure: 0 records loaded, 1 failed\n  3_a-b: x.txt: bad"


def test_case_insensitive_name_and_subject_selection_before_loading(tmp_path):
    for n in (1, 2):
        folder = tmp_path / f"subject{n}"
        write_video(folder / "vid.avi", iter(np.zeros((10, 8, 8, 3), np.uint8)), fps=10.0)
        t = np.arange(12) / 10.0
        (folder / "ground_truth.txt").write_text("\n".join(" ".join(map(str, r)) for r in (t, t, t)))
    (tmp_path / "subject2" / "ground_truth.txt").write_text("broken")
    records = open_dataset("UBFC-rPPG", tmp_path, subjects=["01"])
    assert [r.subject for r in records] == ["1"] and records.failures == []  # subject2 never loaded
    with pytest.raises(ValueError, match=r"subjects=\['9'\] .* match none of the 2 videos"):
        open_dataset("ubfc-rppg", tmp_path, subjects=["9"])


def test_synthetic_routes_to_the_generator():
    synthetic = pytest.importorskip("sspd.data.synthetic")
    if not hasattr(synthetic, "open_synthetic"):
        pytest.skip("sspd.data.synthetic.open_synthetic is not built yet")
    options = {"subjects": 2, "seconds": 1.0, "size": (32, 24)}  # subjects: a count for on-the-fly data
    records = open_dataset("synthetic", **options)
    direct = synthetic.open_synthetic(root=None, **options)
    assert isinstance(records, RecordList) and records.dataset == "synthetic" and records.root is None
    assert [r.name for r in records] == [r.name for r in direct] and len(records) == 2
    np.testing.assert_array_equal(records[0].ppg, direct[0].ppg)


def test_synthetic_is_registered_like_the_others_and_never_calls_back_into_the_registry():
    import ast
    from pathlib import Path

    from sspd.data.readers import get_format
    from sspd.data.synthetic.reader import render_synthetic, scan_synthetic

    fmt = get_format("synthetic")
    assert fmt.scan is scan_synthetic and fmt.render is render_synthetic
    assert all(get_format(name).render is None for name in list_datasets() if name != "synthetic")
    package = Path(__file__).resolve().parents[2] / "sspd" / "data" / "synthetic"
    imported = {node.module for path in package.glob("*.py") for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"sspd.data.readers", "sspd.data.readers.registry", "sspd.data"}, imported
