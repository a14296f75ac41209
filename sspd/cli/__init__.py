"""The ``sspd`` command. Config in, building blocks out: the only place run-config objects live.

One module per subcommand, each with ``register(subparsers)`` (declares the arguments, with help strings
that teach: defaults, units, when to change them) and ``run(args) -> int`` (calls the library). Heavy
imports happen inside ``run`` so ``sspd --help`` stays fast. Add a subcommand by listing its module in
``_COMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

import sspd

log = logging.getLogger("sspd")

_COMMANDS = ("demo", "synth", "preprocess", "predict", "live", "pretrain", "report", "probe", "finetune", "evaluate")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sspd",
        description=(
            "Self-supervised remote photoplethysmography: recover the pulse and heart rate from face "
            "video with no labels (SSPD distillation, linear probes, collapse reports, training-free "
            "baselines). Commands that read a dataset fall back to the embedded synthetic data when none is "
            "given; `sspd predict VIDEO` works on any video you have."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sspd {sspd.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sspd`` console script; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    from sspd.data.cache_lock import CacheBusyError

    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, CacheBusyError) as err:
        # Bad input is the user's to fix: say what and where, without a traceback.
        print(f"sspd {args.command}: error: {err}", file=sys.stderr)
        return 2
