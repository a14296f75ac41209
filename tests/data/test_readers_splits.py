"""Subject-wise splits: fractions (deterministic per seed), explicit lists, the UBFC-rPPG paper split."""
import numpy as np
import pytest

from sspd.data import VideoRecord, split_subjects
from sspd.data.readers import NAMED_SPLITS, filter_records


def _no_frames():
    return iter(())


def records_for(subjects, sessions=("",), **metadata):
    return [VideoRecord(subject=str(s), session=k, fps=30.0, frame_times=np.arange(3) / 30.0, ppg=np.zeros(3),
                        source=f"{s}{k}", frames=_no_frames, metadata=dict(metadata))
            for s in subjects for k in sessions]


def parse_ranges(spec):
    """'1,3,8-10' -> {1, 3, 8, 9, 10}: an independent reading of the published protocol."""
    out = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def test_ubfc_paper_split_matches_the_protocol():
    train_spec, test_spec = "1,3,4,5,8-18,20,22-27,30-37", "38-49"
    all_ubfc = parse_ranges(train_spec) | parse_ranges(test_spec)
    assert len(all_ubfc) == 42
    split = split_subjects(records_for(sorted(all_ubfc)), split="ubfc-paper")
    assert {int(s) for s in split.subjects("train")} == parse_ranges(train_spec)
    assert {int(s) for s in split.subjects("test")} == parse_ranges(test_spec)
    assert split.val == [] and len(split.train) == 30 and len(split.test) == 12
    assert set(NAMED_SPLITS) == {"ubfc-paper"}


def test_fractions_are_subject_wise_deterministic_and_complete():
    records = records_for(range(1, 21), sessions=("a", "b"))
    split = split_subjects(records, train=0.6, val=0.2, test=0.2, seed=4)
    parts = {p: set(split.subjects(p)) for p in ("train", "val", "test")}
    assert [len(parts[p]) for p in ("train", "val", "test")] == [12, 4, 4]
    assert set.union(*parts.values()) == {str(i) for i in range(1, 21)}
    assert sum(len(v) for v in parts.values()) == 20  # disjoint: no subject in two parts
    assert all(len(getattr(split, p)) == 2 * len(parts[p]) for p in parts)  # both sessions together
    again = split_subjects(records, train=0.6, val=0.2, test=0.2, seed=4)
    assert again.subjects("test") == split.subjects("test")
    others = {tuple(split_subjects(records, train=0.6, val=0.2, test=0.2, seed=s).subjects("test"))
              for s in range(5, 10)}
    assert len(others | {tuple(split.subjects("test"))}) > 1  # the seed matters


def test_explicit_lists_match_ids_as_numbers():
    records = records_for(["01", "02", "03", "04"])
    split = split_subjects(records, train=[1, "2"], test=["03"])
    assert split.subjects("train") == ["01", "02"] and split.subjects("test") == ["03"]
    assert split.val == []  # 04 is in no list: left out on purpose


@pytest.mark.parametrize("kwargs, message", [
    ({"train": 0.5, "test": [1]}, "all as fractions or all as subject lists"),
    ({"train": 0.5, "test": 0.4}, "must sum to 1"),
    ({"train": 1.2, "test": -0.2}, r"must lie in \[0, 1\]"),
    ({"train": [1, 2], "test": [2]}, "subject '2' is listed in both train and test"),
    ({"split": "pure-paper"}, r"unknown split 'pure-paper'; named splits: \['ubfc-paper'\]"),
    ({"split": "ubfc-paper", "train": 0.5}, "already defines the parts"),
    ({}, "give split="),
    ({"train": 0.9, "val": 0.05, "test": 0.05}, "rounds to no subject"),
    ({"train": [1], "test": [99]}, r"leaves \['test'\] with no records"),
])
def test_split_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_subjects(records_for(range(1, 6)), **kwargs)


def test_filter_records_matches_values_loosely_and_warns_on_unseen(caplog):
    records = records_for([1], motion="Stationary", skin_color="3") + records_for([2], motion="Walking",
                                                                                   skin_color="5")
    assert [r.subject for r in filter_records(records, {"motion": "stationary "})] == ["1"]
    assert [r.subject for r in filter_records(records, {"skin_color": [5, 6]})] == ["2"]
    assert filter_records(records, {"motion": ["Talking"]}) == []
    assert "no record has ['talking']" in caplog.text and "walking" in caplog.text
