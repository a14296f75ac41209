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
            "omit it with --resume to reuse the run's own config.yaml, or with --videos to start from the "
            "defaults). Your own unlabeled videos: sspd pretrain CONFIG --videos DIR (preprocessed into "
            "RUN_DIR/cache, then trained on). Writes RUN_DIR/config.yaml, "
            "checkpoints/, metrics.jsonl, tb/ (TensorBoard), snapshots/, collapse.json, summary.json. "
            "The objective is objective.name: sspd (default; EMA target, self-similarity distillation), sinc "
            "(spectral priors, no target), contrast-phys (spectral contrast of clips within and across videos, "
            "with model.head=st_rppg; batches of at least 2 videos) or supervised (the labelled control, needs "
            "labels). The default "
            "views remove each pixel's luminance (views.luminance=remove, with views.difference=normalized), a "
            "colour prior without which SSPD follows light and motion changes; views.difference=raw "
            "views.luminance=keep are the release's. "
            "To adapt a trained model to unlabeled videos of a new domain, start from it with model.init=FILE "
            "(a run directory or checkpoint of sspd, or an rPPG-Toolbox PhysNet/PhysFormer .pth) and choose "
            "what adapts in the adapt section (adapt.layers all/norm/head, adapt.batchnorm train/frozen, "
            "label-free stopping with adapt.check_every and adapt.patience). "
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
    p.add_argument("--videos", metavar="DIR", default=None,
                   help="train on your own unlabeled videos: every video file (mp4, avi, mov, mkv, webm, ...) and "
                        "image folder under DIR, recursively. They are preprocessed first into RUN_DIR/cache (face "
                        "crops of data.box_size; resumable: a second call reuses the finished videos), then the run "
                        "trains on that cache (data.source=cache). Image folders are taken at data.fps. Needs a "
                        "self-supervised objective (sspd or sinc)")
    p.add_argument("--preprocess-config", metavar="FILE", default=None,
                   help="with --videos: YAML of preprocess settings as for sspd preprocess --config (strategy, "
                        "every_n, enlarge, workers, options: {image_fps: 25}, ...); size is always data.box_size")
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


def load_run_config(config: str | None, overrides: list[str], resume: str | None, *, defaults: bool = False):
    """The RunConfig of CONFIG (or RUN_DIR/config.yaml when resuming without one; or, with ``defaults``, the
    library's defaults) with the overrides, and the checkpoint file to resume from (None: the newest of the
    run)."""
    from sspd.cli.config import RunConfig
    from sspd.configuration import load_config
    from sspd.engine.runfiles.run_dir import CONFIG

    if config is None and resume is None:
        if defaults:
            return load_config(RunConfig, None, overrides), None
        raise ValueError("give a run config (e.g. experiments/synthetic_demo.yaml) or --resume RUN_DIR")
    run_dir, file = resume_target(resume) if resume is not None else (None, None)
    if config is None and not (run_dir / CONFIG).is_file():
        raise FileNotFoundError(f"--resume {resume}: {run_dir} has no config.yaml, so it is not a run directory "
                                "of sspd pretrain; pass one, or give the run config as well")
    source = config if config is not None else run_dir / CONFIG
    if resume is not None:
        overrides = [*overrides, f"run_dir={run_dir}"]
    loaded = load_config(RunConfig, source, overrides)
    if resume is not None and (run_dir / CONFIG).is_file():
        check_resume_config(run_dir, loaded)
    return loaded, file


#: keys a resumed run may change: how it runs (length, device, logging), not what it trains
RESUMABLE_CHANGES = ("run_dir", "loop.max_steps", "loop.stop_after", "loop.device", "loop.deterministic",
                     "loop.checkpoint_every", "loop.keep_last", "data.workers", "logging.", "collapse.stop",
                     "distributed.")


def _flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(values, dict):
        return {k: v for key, item in values.items() for k, v in _flatten(item, f"{prefix}{key}.").items()}
    return {prefix[:-1]: values}


def check_resume_config(run_dir: Path, config: Any) -> None:
    """Refuse to resume ``run_dir`` with a config that trains differently from its config.yaml (the record of
    the steps already taken would then be wrong), naming each differing key with both values.

    Raises:
        ValueError: some key outside :data:`RESUMABLE_CHANGES` differs.
    """
    from sspd.cli.config import RunConfig
    from sspd.configuration import config_to_dict, load_config
    from sspd.engine.runfiles.run_dir import CONFIG

    before = _flatten(config_to_dict(load_config(RunConfig, run_dir / CONFIG)))
    after = _flatten(config_to_dict(config))
    changed = [key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)
               and not any(key == allowed or key.startswith(allowed) for allowed in RESUMABLE_CHANGES)]
    if changed:
        shown = "; ".join(f"{key}: {before.get(key)!r} -> {after.get(key)!r}" for key in changed[:8])
        more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
        raise ValueError(f"--resume {run_dir}: the config differs from the run's {CONFIG} in {shown}{more}; "
                         f"resume with the run's own config (omit CONFIG and those --set items), or start a new "
                         "run_dir. Only these may change on resume: " + ", ".join(RESUMABLE_CHANGES))


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


def _run_cache(config: Any) -> Path:
    """RUN_DIR/cache, where ``--videos`` caches the face crops."""
    from sspd.data.cache import RUN_CACHE

    return Path(config.run_dir) / RUN_CACHE


def _check_not_finished(run_dir: Path) -> None:
    """Before preprocessing for a new run: refuse a run directory that already holds checkpoints."""
    from sspd.engine.runfiles.checkpoint import latest
    from sspd.engine.runfiles.run_dir import CHECKPOINTS

    if (run_dir / CHECKPOINTS).is_dir() and latest(run_dir / CHECKPOINTS) is not None:
        raise ValueError(f"{run_dir} already holds the checkpoints of a run: continue it with --resume {run_dir} "
                         "(and the same --videos), or choose another run_dir (--set run_dir=...)")


def video_preprocess_config(config: Any, videos: str | Path, settings: str | None = None) -> Any:
    """The :class:`~sspd.data.preprocess_config.PreprocessConfig` of ``--videos``: ``settings`` (a YAML file)
    or the defaults, reading ``videos`` with the ``videos`` reader into RUN_DIR/cache at ``data.box_size``
    (image folders at ``data.fps`` unless its options say ``image_fps``)."""
    from sspd.data.preprocess_config import PreprocessConfig

    base = PreprocessConfig.from_yaml(settings) if settings else PreprocessConfig()
    options = {"image_fps": config.data.fps, **base.options}
    return base.replace(dataset="videos", root=str(videos), out=str(_run_cache(config)),
                        size=config.data.box_size, options=options)


def preprocess_videos(config: Any, videos: str | Path, *, settings: str | None = None, progress: Any = None,
                      workers: int | None = None) -> tuple[Any, Any]:
    """Preprocess the videos under ``videos`` into RUN_DIR/cache (finished ones are reused) and return (the
    run config with ``data`` reading that cache, the preprocessing summary).

    Raises:
        ValueError: no video under the folder, or none of them could be cached (the first reason named).
    """
    import dataclasses

    from sspd.data.preprocess import preprocess_dataset
    from sspd.data.readers import open_dataset

    pconfig = video_preprocess_config(config, videos, settings)
    records = open_dataset("videos", pconfig.root, **pconfig.options)
    summary = preprocess_dataset(records, pconfig.out, pconfig, progress=progress, workers=workers)
    if not (summary.done or summary.skipped):
        first = summary.failed[0].reason if summary.failed else "no video"
        raise ValueError(f"--videos {videos}: none of the {len(summary.failed)} videos could be preprocessed "
                         f"(first: {first}); see {pconfig.out}/summary.json")
    data = dataclasses.replace(config.data, source="cache", cache_dir=pconfig.out)
    return dataclasses.replace(config, data=data), summary


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
    config, file = load_run_config(args.config, overrides, args.resume, defaults=args.videos is not None)
    if args.videos is not None:
        config = _prepare_videos(config, args)
    elif args.preprocess_config is not None:
        raise ValueError("--preprocess-config applies to --videos DIR only; give --videos, or preprocess with "
                         "sspd preprocess --config FILE")
    on_step, state = progress_callback(args.no_progress)
    result = pretrain(config, resume=file or args.resume is not None, on_step=on_step)
    if state.get("bar") is not None:
        state["bar"].close()
    if get_rank() != 0:
        return 0 if result.stop_reason in ("completed", "interrupted", "early-stop") else 1  # rank 0 reports the status
    print(f"\n{result.steps}/{result.total_steps} steps in {result.wall_time_s:.0f} s: {result.stop_reason}"
          + (f"\n{result.message}" if result.message else ""))
    print(f"run directory: {result.run_dir} (checkpoints/, metrics.jsonl, tb/ for TensorBoard, summary.json)")
    if result.stop_reason in ("non-finite", "collapse"):
        print(f"sspd pretrain: stopped: {result.message}", file=sys.stderr)
        return 1
    from sspd.engine.loop import USER_INTERRUPT

    return 130 if result.message == USER_INTERRUPT else 0   # Ctrl-C: the shell's status, after the checkpoint


def _prepare_videos(config: Any, args: argparse.Namespace) -> Any:
    """``--videos DIR``: preprocess into RUN_DIR/cache with a progress bar, report, and return the config
    reading that cache."""
    import os

    from tqdm import tqdm

    from sspd.cli.preprocess import in_flags
    from sspd.data.cache_lock import CacheBusyError
    from sspd.engine.runfiles.run_dir import check_run_dir

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(f"--videos under torchrun: preprocess once first (sspd preprocess --dataset videos --root "
                         f"{args.videos} --out {_run_cache(config)} --size {config.data.box_size}), then pass --set "
                         f"data.source=cache --set data.cache_dir={_run_cache(config)}")
    if args.resume is None:
        _check_not_finished(Path(config.run_dir))
        check_run_dir(config.run_dir)   # refuse a folder of the user's own files before caching into it
    bar = tqdm(unit="video", desc="preprocess", disable=args.no_progress)

    def progress(result: Any) -> None:
        bar.set_postfix_str(result.name)
        bar.update(1)

    try:
        config, summary = preprocess_videos(config, args.videos, settings=args.preprocess_config, progress=progress)
    except CacheBusyError as err:  # another process preprocesses into this run's cache
        raise ValueError(str(err)) from err
    finally:
        bar.close()
    print(in_flags(summary.format_report()))
    if summary.failed:
        print(f"sspd pretrain: {len(summary.failed)} video(s) could not be preprocessed (listed above); training "
              f"on the {len(summary.done) + len(summary.skipped)} that were", file=sys.stderr)
    return config
