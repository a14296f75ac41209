import subprocess
import sys

import sspd
from sspd.cli import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"sspd {sspd.__version__}"


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "sspd", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "usage: sspd" in out and "heart rate" in out
