"""How much pulse survives the realistic preset's camera: POS on the skin mean at several H.264 CRFs.

Each video is rendered once with ``SyntheticConfig.from_preset("realistic")`` (webcam framing 640×480,
exposure and white-balance drift, blinks, mouth motion) and then encoded at each CRF (x264 medium,
yuv420p, an in-memory round trip); "off" is the uncompressed frames. The signal is the mean colour over
the generator's skin mask (the ideal region of interest, so the face detector plays no part), POS
(1.6 s windows), and the columns are:

    SNR    sspd.signal.snr_db of the POS trace at the true mean HR (±0.1 Hz around HR and 2·HR), dB
    err    |HR estimate − true mean HR| (bpm), estimate_hr(method="fft") on the whole video
    kB     the H.264 stream's size per second of video

Mean (and, for err, the number of videos within 5 bpm) over ``--videos`` videos from seeds 1000+i.

    python experiments/realism_compression.py --videos 4 --seconds 10 --crf 18 23 28 35
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from sspd.baselines.projections import pos
from sspd.data.synthetic import SyntheticConfig, SyntheticVideo, spawn_seed
from sspd.data.synthetic.camera import h264_round_trip
from sspd.signal import estimate_hr, snr_db


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--crf", type=int, nargs="+", default=[18, 23, 28, 35])
    p.add_argument("--hr", type=float, nargs=2, default=(50.0, 140.0), help="mean HR range (bpm)")
    return p.parse_args()


def stream_bytes(frames: np.ndarray, fps: float, crf: int) -> int:
    """Bytes of the raw H.264 stream of ``frames`` at ``crf`` (what the round trip decodes)."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="h264") as container:
        stream = container.add_stream("libx264", rate=int(fps), options={"crf": str(crf), "preset": "medium",
                                                                         "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getbuffer().nbytes


def score(frames: np.ndarray, mask: np.ndarray, fps: float, hr: float) -> tuple[float, float]:
    rgb = frames[:, mask].mean(axis=1).T.astype(np.float64)  # (3, T)
    pulse = pos(rgb, fps)
    return float(snr_db(pulse, fps, hr)), abs(float(estimate_hr(pulse, fps, method="fft")) - hr)


def main() -> None:
    args = parse_args()
    config = SyntheticConfig.from_preset("realistic", hr_bpm=tuple(args.hr))
    n_frames = int(round(args.seconds * args.fps))
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for i in range(args.videos):
        start = time.time()
        video = SyntheticVideo(spawn_seed(1000 + i, 0), n_frames=n_frames, fps=args.fps, width=640, height=480,
                               config=config)
        frames = video.render()
        mask = video.skin_masks(0, n_frames).mean(axis=0) > 0.9  # skin in every frame, roughly
        hr = video.mean_hr
        rows.setdefault("off", []).append((*score(frames, mask, args.fps, hr), float("nan")))
        for crf in args.crf:
            decoded = np.stack(list(h264_round_trip(frames, fps=args.fps, crf=crf)))
            kbps = stream_bytes(frames, args.fps, crf) / 1000 / args.seconds
            rows.setdefault(f"crf {crf}", []).append((*score(decoded, mask, args.fps, hr), kbps))
        print(f"video {i}: HR {hr:.1f} bpm, face {2 * video.scene.face.geometry.rx:.0f} px, "
              f"{time.time() - start:.1f} s", flush=True)
    print(f"\nrealistic preset, {args.videos} videos x {args.seconds:g} s at {args.fps:g} fps, POS on the skin mean")
    print(f"{'codec':>8} {'SNR dB':>8} {'err bpm':>8} {'<5 bpm':>7} {'kB/s':>7}")
    for name, values in rows.items():
        arr = np.array(values)
        print(f"{name:>8} {arr[:, 0].mean():8.1f} {arr[:, 1].mean():8.1f} {int((arr[:, 1] < 5).sum()):>4}/{len(arr)}"
              f" {arr[:, 2].mean():7.1f}")


if __name__ == "__main__":
    main()
