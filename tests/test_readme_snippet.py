"""The README's library snippet gives the true heart rate of a face video (it once gave the band floor,
45 bpm, by averaging hair and background with the skin)."""
import re
from pathlib import Path

import pytest

from sspd.data.synthetic import SyntheticConfig
from sspd.data.synthetic.render import SyntheticVideo

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippet() -> str:
    """The imports and the rgb/bvp/pulse/hr lines of the README's "As a library" block."""
    block = README.read_text(encoding="utf-8").split("## As a library", 1)[1].split("```python", 1)[1]
    lines = block.split("```", 1)[0].splitlines()
    keep = [line for line in lines if re.match(r"^(from sspd\.(signal|baselines) import|import numpy|"
                                               r"(rgb|bvp|pulse|hr) = )", line)]
    assert any(line.startswith("hr = ") for line in keep)
    return "\n".join(keep)


@pytest.mark.parametrize("seed, framing", [(1, "scene"), (3, "crop")])
def test_the_readme_snippet_measures_the_true_heart_rate(seed, framing):
    config = SyntheticConfig(framing=framing).scale_nuisances(motion=3.0 if framing == "crop" else 1.0,
                                                              illumination=3.0 if framing == "crop" else 1.0)
    video = SyntheticVideo(seed, n_frames=600, fps=30.0, width=96, height=96, config=config)
    scope = {"frames": video.render()}
    exec(_snippet(), scope)  # noqa: S102 (the README's own code)
    assert abs(scope["hr"] - video.mean_hr) < 2.0, (scope["hr"], video.mean_hr)
