"""InputSpec: checked values, plain-value round trip, the derivation for checkpoints written without one."""
import pytest

from sspd.augment.inference import InferenceView
from sspd.models import InputSpec, derive_input_spec, read_input_spec


def test_plain_values_round_trip_and_size_becomes_a_pair():
    spec = InputSpec(frames=64, input_size=66, box_size=72, enlarge="sspd",
                     view=InferenceView(difference="normalized", luminance="remove"), signal="diff", fps=25.0)
    values = spec.as_dict()
    assert values["input_size"] == [66, 66] and values["view"]["luminance"] == "remove"
    assert InputSpec.from_dict(values) == spec and spec.input_size == (66, 66) and spec.clip_frames == 65


@pytest.mark.parametrize("values, words", [
    ({"box_size": 60}, "box_size (60) must be >= the input side (66)"),
    ({"signal": "velocity"}, "signal must be one of"),
    ({"frames": 0}, "frames must be a positive int"),
    ({"fps": float("nan")}, "fps must be a positive number"),
    ({"view": {"difference": "ratio"}}, "view difference must be one of"),
    ({"colour": "rgb"}, "unknown keys ['colour']"),
])
def test_bad_values_are_named(values, words):
    base = {"frames": 64, "input_size": [66, 66], "box_size": 72}
    with pytest.raises(ValueError) as err:
        InputSpec.from_dict({**base, **values})
    assert words in str(err.value)


def test_an_old_checkpoint_gets_the_spec_inference_used_to_dig_out():
    network = {"backbone": "physnet", "backbone_kwargs": {"frames": 48, "input_size": 16, "width": 0.25},
               "stack": {}, "view": {"difference": "normalized"}}
    old = {"format": "sspd-checkpoint-1", "network": network,
           "config": {"data": {"source": "synthetic", "box_size": 20, "fps": 25.0}}}
    spec, origin = derive_input_spec(old)
    assert (spec.frames, spec.input_size, spec.box_size, spec.fps, spec.signal) == (48, (16, 16), 20, 25.0, "pulse")
    assert spec.view == InferenceView(difference="normalized") and origin == "the run config's data.box_size"
    cached = {**old, "config": {"data": {"source": "cache", "box_size": 20, "fps": 30.0}}}
    assert derive_input_spec(cached)[0].fps is None  # the cache's rate was not recorded
    tuned = {**old, "config": {"steps": 2}, "finetune": {"target": "diff"}}
    spec, origin = derive_input_spec(tuned)
    assert (spec.box_size, spec.signal) == (16, "diff") and "input size" in origin
    with pytest.raises(ValueError, match=r"broken\.pt: .*lacks backbone_kwargs\.frames"):
        read_input_spec({"network": {"backbone": "physnet", "backbone_kwargs": {}}}, "broken.pt")
    recorded = {**old, "input": spec.as_dict()}
    assert read_input_spec(recorded, "x.pt") == (spec, "the checkpoint's input spec (input.box_size)")
