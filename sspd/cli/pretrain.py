"""``sspd pretrain``: SSPD self-supervised pretraining from a YAML run config (see experiments/)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain", help="self-supervised pretraining (SSPD, SiNC, Contrast-Phys) or the supervised control, "
                         "from a run config",
        description=(
            "Pretrain a network without labels. CONFIG is a YAML run config (experiments/*.yaml; "
            "omit it with --resume to reuse the run's own config.yaml). Writes RUN_DIR/config.yaml, "
            "checkpoints/, metrics.jsonl, tb/ (TensorBoard), snapshots/, collapse.json, summary.json. "
            "The objective is objective.name: sspd (default; EMA target, self-similarity distillation), sinc "
            "(spectral priors, no target), contrast-phys (spectral contrast of clips within and across videos, "
            "with model.head=st_rppg; batches of at least 2 videos) or supervised (the labelled control, needs "
            "labels). The default "
            "views remove each pixel's luminance (views.luminance=remove, with views.difference=normalized), a "
            "colour prior without which SSPD follows light and motion changes; views.difference=raw "
            "views.luminance=keep are the release's. "
            "Multi-process: torchrun --nproc_per_node N -m sspd pretrain CONFIG (gloo on CPU, NCCL on GPUs)."))
    p.add_argument("config", nargs="?", default=None,
                   help="YAML run config, e.g. experiments/synthetic_demo.yaml (unknown keys are errors)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, repeatable: --set optim.lr=5e-4 --set loop.precision=bf16. "
                        "loop.precision: fp32 (default, exact everywhere), bf16 (about 2x faster on CPUs with "
                        "AMX-BF16, slower without), fp16 (CUDA only)")
    p.add_argument("--resume", metavar="RUN_DIR|CKPT", default=None,
                   help="continue RUN_DIR exactly where it stopped, from checkpoints/last.pt (or the newest "
                        "readable step_XXXXXXX.pt if last.pt is damaged), or from the checkpoint file "
                        "RUN_DIR/checkpoints/step_XXXXXXX.pt given")
    p.add_argument("--stop-on-collapse", action="store_true",
                   help="end the run when the collapse monitor declares collapse (collapse.stop=true)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def resume_target(resume: str) -> tuple[Path, Path | None]:
    """(run directory, checkpoint file or None for the newest) of ``--resume RUN_DIR|CKPT``.

    Raises:
        FileNotFoundError: no such run directory or file. ValueError: a checkpoint outside RUN_DIR/checkpoints/.
    """
    path = Path(resume).expanduser()
    if path.is_file():
        if path.parent.name != "checkpoints":
            raise ValueError(f"--resume {resume}: a checkpoint file must be one of RUN_DIR/checkpoints/ (the "
                             "run continues in RUN_DIR); pass RUN_DIR, or a .pt inside it")
        return path.parent.parent, path
    if not path.is_dir():
        raise FileNotFoundError(f"--resume {resume}: no such run directory (or checkpoint file); pass the "
                                "run_dir of an earlier sspd pretrain")
    return path, None


def load_run_config(config: str | None, overrides: list[str], resume: str | None):
    """The RunConfig of CONFIG (or RUN_DIR/config.yaml when resuming without one) with the overrides, and
    the checkpoint file to resume from (None: the newest of the run)."""
    from sspd.cli.config import RunConfig
    from sspd.configuration import load_config
    from sspd.engine.run_dir import CONFIG

    if config is None and resume is None:
        raise ValueError("give a run config (e.g. experiments/synthetic_demo.yaml) or --resume RUN_DIR")
    run_dir, file = resume_target(resume) if resume is not None else (None, None)
    if config is None and not (run_dir / CONFIG).is_file():
        raise FileNotFoundError(f"--resume {resume}: {run_dir} has no config.yaml, so it is not a run directory "
                                "of sspd pretrain; pass one, or give the run config as well")
    source = config if config is not None else run_dir / CONFIG
    if resume is not None:
        overrides = [*overrides, f"run_dir={run_dir}"]
    return load_config(RunConfig, source, overrides), file


def progress_callback(disabled: bool, description: str = "pretrain"):
    """A tqdm bar with ETA driven by the loop's on_step(done, total, scalars); returns (callback, bar)."""
    from tqdm import tqdm

    state: dict = {}

    def on_step(done: int, total: int, scalars: dict) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=total, initial=done - 1, unit="step", desc=description,
                                      disable=disabled)
        bar.update(1)
        bar.set_postfix(loss=f"{scalars.get('total', float('nan')):.3f}", skipped=int(scalars.get("skipped", 0)))

    return on_step, state


def pretrain(config: Any, *, resume: bool | str | Path = False, dataset: Any = None, on_step: Any = None) -> Any:
    """Run :func:`sspd.engine.run_pretraining` on a :class:`sspd.cli.config.RunConfig`'s sections (with its
    collapse monitor and health check); returns the :class:`sspd.engine.LoopResult`.

    ``resume``, ``dataset`` and ``on_step`` are :func:`~sspd.engine.run_pretraining`'s.
    """
    from sspd.engine import run_pretraining

    return run_pretraining(**config.sections(), resume=resume, dataset=dataset, on_step=on_step)


def run(args: argparse.Namespace) -> int:
    from sspd.engine import get_rank

    overrides = list(args.overrides) + (["collapse.stop=true"] if args.stop_on_collapse else [])
    config, file = load_run_config(args.config, overrides, args.resume)
    on_step, state = progress_callback(args.no_progress)
    result = pretrain(config, resume=file or args.resume is not None, on_step=on_step)
    if state.get("bar") is not None:
        state["bar"].close()
    if get_rank() != 0:
        return 0 if result.stop_reason in ("completed", "interrupted") else 1
    print(f"\n{result.steps}/{result.total_steps} steps in {result.wall_time_s:.0f} s: {result.stop_reason}"
          + (f"\n{result.message}" if result.message else ""))
    print(f"run directory: {result.run_dir} (checkpoints/, metrics.jsonl, tb/ for TensorBoard, summary.json)")
    if result.stop_reason in ("non-finite", "collapse"):
        print(f"sspd pretrain: stopped: {result.message}", file=sys.stderr)
        return 1
    return 0
