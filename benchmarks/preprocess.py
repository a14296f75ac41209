"""Preprocessing speed and memory: frames/s and peak RSS for one 60 s 640×480 30 fps video.

The video is synthetic (``sspd.data.synthetic``: a face the Haar cascade detects, with sensor noise):
``--unique-seconds`` of rendered frames looped to ``--seconds`` (rendering is slower than preprocessing),
written twice: ``raw`` (uncompressed RGBA AVI, as UBFC-rPPG ships its videos: decoding is nearly free)
and ``ffv1`` (lossless FFV1, what ``sspd synth`` writes: decoding noisy frames costs far more than the rest
of the pipeline). Each setting preprocesses one video in a fresh child process (decode, detect, crop,
resize, write the cache), so the peak RSS printed (VmHWM) is that run's own. The reference, measured in the
same run, is decoding alone: the ratio says how much of the decoder's speed the full pipeline keeps.
Besides wall-clock frames/s, frames per CPU-second (user + system time of the child) are printed: on a
shared machine they vary less.

Targets (2 CPU cores): >= 150 frames/s with detection every 10 frames, peak RSS < 1 GiB.
Runtime: about 10 minutes on 2 busy cores, most of it rendering and the FFV1 runs (``--codecs raw`` for
a quick look; ``--keep DIR`` reuses the videos next time).

    python benchmarks/preprocess.py [--seconds 60] [--size 151] [--codecs raw ffv1] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

SETTINGS = {  # name → PreprocessConfig fields (None: decode only, the reference)
    "decode only": None,
    "every 10": {"strategy": "every", "every_n": 10},
    "every 1": {"strategy": "every", "every_n": 1},
    "first": {"strategy": "first"},
    "median 10 (2 decodes)": {"strategy": "median", "every_n": 10},
}
CODECS = {"raw": "RGBA", "ffv1": "FFV1"}  # name → fourcc
SETTINGS_PER_CODEC = {"raw": list(SETTINGS), "ffv1": ["decode only", "every 10"]}


def write_benchmark_videos(work: Path, codecs: list[str], *, seconds: float, unique_seconds: float,
                           fps: float = 30.0) -> dict[str, Path]:
    from sspd.data.synthetic import SyntheticVideo
    from sspd.data.video import read_video_frames, write_video

    unique = work / "unique.avi"
    if not unique.is_file():
        n_unique = int(round(min(unique_seconds, seconds) * fps))
        write_video(unique, SyntheticVideo(0, n_frames=n_unique, fps=fps, width=640, height=480).iter_frames(), fps)
    n_total = int(round(seconds * fps))

    def looped():
        count = 0
        while True:
            for frame in read_video_frames(unique):
                if count == n_total:
                    return
                count += 1
                yield frame

    paths = {}
    for codec in codecs:
        paths[codec] = work / f"bench-{codec}-{n_total}.avi"
        if not paths[codec].is_file():
            write_video(paths[codec], looped(), fps, codec=CODECS[codec])
    return paths


def peak_rss_mib() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss would include the parent's before exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(setting: str, video: Path, out: Path, size: int) -> dict:
    """In a fresh process: preprocess (or only decode) the video; report frames, seconds and peak RSS."""
    import numpy as np

    from sspd.data.preprocess import preprocess_video
    from sspd.data.preprocess_config import PreprocessConfig
    from sspd.data.records import VideoRecord
    from sspd.data.video import probe_video, read_video_frames

    rss_start = peak_rss_mib()
    info = probe_video(video, count_frames=True)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    if SETTINGS[setting] is None:
        frames = sum(1 for _ in read_video_frames(video))
        face = {}
    else:
        record = VideoRecord(subject="bench", session="", fps=info.fps,
                             frame_times=np.arange(info.n_frames) / info.fps, ppg=np.zeros(info.n_frames),
                             source=video, frames=partial(read_video_frames, video))
        config = PreprocessConfig(size=size, **SETTINGS[setting])
        result = preprocess_video(record, out, config)
        frames, face = result.n_frames, result.face
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    return {"frames": frames, "seconds": seconds, "cpu": cpu, "peak_mib": peak_rss_mib(),
            "import_mib": rss_start, "face": face}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--unique-seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=151)
    parser.add_argument("--codecs", nargs="+", choices=list(CODECS), default=list(CODECS))
    parser.add_argument("--keep", help="work in this folder and keep the videos (reused when present)")
    parser.add_argument("--child", nargs=3, metavar=("SETTING", "VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.size)))
        return
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sspd-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        videos = write_benchmark_videos(work, args.codecs, seconds=args.seconds, unique_seconds=args.unique_seconds)
        print(f"videos ready in {time.perf_counter() - start:.0f} s: " + ", ".join(
            f"{codec} {path.stat().st_size / 2**20:.0f} MiB" for codec, path in videos.items()), flush=True)
        for codec, video in videos.items():
            print_table(codec, measure(work, video, SETTINGS_PER_CODEC[codec], args.size), args.size)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def measure(work: Path, video: Path, settings: list[str], size: int) -> list[tuple[str, dict]]:
    rows = []
    for setting in settings:
        out = work / "cache"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, __file__, "--size", str(size), "--child", setting, str(video), str(out)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows.append((setting, json.loads(done.stdout.strip().splitlines()[-1])))
        shutil.rmtree(out, ignore_errors=True)
    return rows


def print_table(codec: str, rows: list[tuple[str, dict]], size: int) -> None:
    decode = rows[0][1]["frames"] / rows[0][1]["seconds"]
    print(f"\n{codec}: one 640x480 30 fps video -> {size}x{size} crops, one process "
          f"(reference: decode only, {decode:.0f} frames/s)")
    print(f"{'setting':<24}{'frames':>7}{'frames/s':>10}{'vs decode':>11}{'frames/CPU-s':>14}"
          f"{'peak RSS MiB':>14}{'detections':>12}")
    for setting, r in rows:
        fps = r["frames"] / r["seconds"]
        print(f"{setting:<24}{r['frames']:>7}{fps:>10.0f}{fps / decode:>11.2f}{r['frames'] / r['cpu']:>14.0f}"
              f"{r['peak_mib']:>14.0f}{r['face'].get('attempts', '-'):>12}")
    target = dict(rows)["every 10"]
    fps = target["frames"] / target["seconds"]
    print(f"targets (every 10): >= 150 frames/s {'met' if fps >= 150 else 'NOT met'} ({fps:.0f}); peak RSS "
          f"< 1 GiB {'met' if target['peak_mib'] < 1024 else 'NOT met'} ({target['peak_mib']:.0f} MiB, "
          f"{target['import_mib']:.0f} after imports)", flush=True)


if __name__ == "__main__":
    main()
