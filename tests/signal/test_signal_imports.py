import subprocess
import sys


def test_signal_package_imports_neither_torch_nor_higher_layers():
    # dependency direction: signal <- losses <- ...; torch tensors are accepted without importing torch
    code = ("import sys, sspd.signal; "
            "bad = [m for m in ('torch', 'sspd.losses', 'sspd.eval') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
