"""``python -m sspd`` is the ``sspd`` command (also what ``torchrun -m sspd`` starts)."""
from sspd.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
