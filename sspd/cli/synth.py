"""``sspd synth``: write a synthetic face-video dataset with a known pulse."""
from __future__ import annotations

import argparse

# the preset names, kept here so --help does not import the generator (a test checks them against
# sspd.data.synthetic.config.PRESETS)
PRESET_NAMES = ("realistic",)

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic face-video dataset with a known pulse (UBFC-rPPG layout)",
        description=(
            "Render synthetic face videos with a known pulse into the UBFC-rPPG DATASET_2 layout "
            "(subject<N>/vid.avi lossless FFV1, ground_truth.txt with PPG, HR and timestamps at a 60 Hz "
            "oximeter rate, synthetic.json with the generating parameters), so every reader, "
            "preprocessing and evaluation path can run with no dataset. Same seed, same videos."))
    p.add_argument("--out", required=True, help="the dataset folder to create")
    p.add_argument("--subjects", type=int, default=3, help="number of videos, one per subject (default 3)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each video in s (default 10; "
                                                               "POS needs about 10 s for a 2 bpm estimate)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate in Hz (default 30)")
    p.add_argument("--size", help="WIDTHxHEIGHT (default 320x240, 640x480 in the webcam framing; UBFC-rPPG is "
                                  "640x480, 4x slower to render; the face is detectable from 320x240)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0); subject N uses child seed N")
    p.add_argument("--preset", choices=sorted(PRESET_NAMES),
                   help="start from a named set of knobs: realistic = webcam framing, H.264 at CRF 28, auto-exposure "
                        "and white-balance drift, blinks and mouth motion (--config and the flags below override it)")
    p.add_argument("--config", help="YAML mapping of SyntheticConfig knobs (see sspd.data.synthetic.config); "
                                    "the flags below override it")
    p.add_argument("--framing", choices=("scene", "crop", "webcam"),
                   help="scene: a face in a room, half the frame high (default; for face detection); "
                        "crop: the face fills the frame, as an already-cropped face box; webcam: a 640x480 frame "
                        "with the face 150-250 px wide, drawn per video")
    p.add_argument("--crf", type=int,
                   help="write H.264 (x264, yuv420p) at this constant rate factor, 0-51 (28: a typical webcam or "
                        "phone call; higher = smaller file, more artefacts) instead of lossless FFV1")
    p.add_argument("--exposure-drift", type=float,
                   help="relative std of a slow auto-exposure gain on all channels (default 0; realistic 0.03)")
    p.add_argument("--white-balance-drift", type=float,
                   help="relative std of slow white-balance gains on red and blue (default 0; realistic 0.01)")
    p.add_argument("--blinks-per-min", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="eye blink rate range per minute, drawn per subject (default 0 0; realistic 10 20)")
    p.add_argument("--mouth-motion", type=float,
                   help="how far the mouth opens and closes, 0-1 (default 0; realistic 0.5)")
    p.add_argument("--no-pulse", action="store_true",
                   help="negative clips: everything but the pulse (labels written as zeros)")
    p.add_argument("--flicker-hz", type=float,
                   help="add light flicker at this frequency, a periodic distractor (e.g. 1.5 inside the "
                        "0.7-4 Hz HR band)")
    p.add_argument("--flicker-amplitude", type=float,
                   help="relative flicker amplitude (default 0.01, ~3x the pulse in green)")
    p.add_argument("--hr-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="mean HR range in bpm, drawn per subject (default 45 150)")
    p.add_argument("--pulse-amplitude", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="relative pulse amplitude range (default 0.002 0.006; physiological 0.001-0.01)")
    p.add_argument("--beat-jitter", type=float,
                   help="beat-to-beat variability: relative std of a random part of each inter-beat interval "
                        "(default 0: a smooth pulse; 0.02-0.05 at rest); the true beat times go into "
                        "synthetic.json (beat_times_s), the ground truth of HRV")
    p.add_argument("--motion", type=float, default=1.0,
                   help="scale every head-motion knob (default 1 = moderate; 0 = still head; 2 = double)")
    p.add_argument("--illumination", type=float, default=1.0,
                   help="scale illumination drift, gradient and specular changes (default 1; 0 = constant)")
    p.add_argument("--noise-std", type=float, help="sensor noise in grey levels (default 1.5)")
    p.add_argument("--overwrite", action="store_true", help="replace subject videos already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _synth_config(args: argparse.Namespace):
    """SyntheticConfig from --config (YAML) with the flags applied over it."""
    from sspd.configuration import read_yaml
    from sspd.data.synthetic import SyntheticConfig

    config = SyntheticConfig.from_preset(args.preset) if args.preset else SyntheticConfig()
    if args.config:
        values = read_yaml(args.config)
        if not isinstance(values, dict):
            raise ValueError(f"{args.config}: expected a mapping of SyntheticConfig knobs")
        if args.preset and "preset" not in values:
            values = {**values, "preset": args.preset}
        try:
            config = SyntheticConfig.from_dict(values)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{args.config}: {err}") from None
    flags = {"framing": args.framing, "flicker_hz": args.flicker_hz, "crf": args.crf,
             "exposure_drift": args.exposure_drift, "white_balance_drift": args.white_balance_drift,
             "blink_rate_per_min": tuple(args.blinks_per_min) if args.blinks_per_min else None,
             "mouth_motion": args.mouth_motion,
             "flicker_amplitude": args.flicker_amplitude, "noise_std": args.noise_std,
             "hr_bpm": tuple(args.hr_range) if args.hr_range else None,
             "pulse_amplitude": tuple(args.pulse_amplitude) if args.pulse_amplitude else None,
             "no_pulse": True if args.no_pulse else None, "beat_jitter": args.beat_jitter}
    config = config.replace(**{k: v for k, v in flags.items() if v is not None})
    return config.scale_nuisances(motion=args.motion, illumination=args.illumination)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sspd.data.synthetic import generate_dataset, parse_size
    from sspd.data.synthetic.generate import count_frames

    config = _synth_config(args)
    if args.size is None:
        args.size = "640x480" if config.framing == "webcam" else "320x240"
    width, height = parse_size(args.size)  # a bad size fails before the progress bar appears
    if config.crf is not None and (width % 2 or height % 2):
        raise ValueError(f"--size {args.size}: H.264 (--crf) needs an even width and height")
    total = args.subjects * count_frames(args.seconds, args.fps)
    with tqdm(total=total, unit="frame", desc="synth", disable=args.no_progress) as bar:
        infos = generate_dataset(args.out, subjects=args.subjects, seconds=args.seconds, fps=args.fps,
                                 size=args.size, seed=args.seed, config=config, overwrite=args.overwrite,
                                 on_progress=bar.update)
    first = infos[0]
    codec = "lossless FFV1" if config.crf is None else f"H.264 CRF {config.crf}"
    print(f"wrote {len(infos)} synthetic video(s) of {first['n_frames']} frames, {first['width']}x"
          f"{first['height']} at {first['fps']:g} fps, {codec}, to {args.out} (UBFC-rPPG DATASET_2 layout)")
    for info in infos:
        hr = f"mean HR {info['mean_hr_bpm']:6.1f} bpm" if info["has_pulse"] else "no pulse"
        print(f"  {info['subject']:>10}  {hr}  skin {info['skin_tone']}")
    print(f"read it with: sspd.data.open_dataset('synthetic', '{args.out}') or --dataset ubfc-rppg")
    return 0
