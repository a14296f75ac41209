"""Is a run learning the pulse? Label-free evidence from a network's predictions on its own clips.

The collapse probes (:mod:`sspd.diagnostics.probe_set`) catch a network whose output has died. They
cannot tell a predictor that reads the pulse from one that reads something else periodic: the light,
the head's motion, a fixed rate. This module compares the predicted rate of each clip with rates
the clip itself carries, each measured without labels and without the network:

    chrominance  POS (Wang et al. 2017) on the clip's mean colour: a training-free pulse estimator that
                 removes what changes all channels alike; its own SNR says whether it sees a pulse
    light        the clip's mean brightness relative to its mean, every channel alike (flicker, drift)
    motion       the frames' translation against the clip's mean frame (phase correlation), x and y

    from sspd.diagnostics.health import assess_health, clip_traces
    traces = [clip_traces(frames, fs) for frames in clips]          # frames (T, H, W, 3), 0-255
    health = assess_health(predictions, traces, fs)                 # predictions (N, T) stitched signals
    health.verdict, health.probe, health.value, health.follows     # "learning", "chroma_agreement", ...

The verdict is "learning" when most clips with a chrominance pulse get the predictor's rate at that
pulse; "collapsed" when the predictions are flat or the same for every clip; otherwise "not learning",
with what the predicted rates follow. Clips that carry no signal at all (constant colour, brightness and
position: a constant video without a face) are "not learning" too: there is no pulse to learn. Labels,
when a caller has them, give :class:`LabelCheck`, shown beside the verdict and never used by it. The
traces and their rates are :mod:`sspd.diagnostics.clip_traces` (re-exported here). Thresholds: :class:`HealthThresholds`, set on the calibration
runs of ``experiments/health_study.py``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from sspd.baselines import pos
from sspd.diagnostics.clip_traces import ClipTraces, clip_traces, frame_shifts, rates
from sspd.diagnostics.hr_probes import pileup
from sspd.diagnostics.signal_probes import cross_clip_correlation, temporal_std
from sspd.signal import DEFAULT_BAND, integrate

__all__ = ["HEALTH_LEVELS", "ClipTraces", "HealthThresholds", "DEFAULT_HEALTH", "LabelCheck", "Health",
           "frame_shifts", "clip_traces", "rates", "assess_health", "judge_rates", "label_check", "health_json",
           "health_scalars", "run_verdict"]

#: the verdicts, best first ("unknown": nothing to judge yet)
HEALTH_LEVELS = ("learning", "not learning", "collapsed", "unknown")

@dataclass(frozen=True)
class HealthThresholds:
    """The rules of the label-free verdict; each value is justified from the calibration runs.

    The figures quoted are those of ``experiments/health_study.py`` (12 clips of 10 s per run, the
    run's own training data, its labels unused; truth from 12 held-out videos x 20 s): 15 calibration
    runs, 13 of them outside the truth's "between" band (3 learning, 10 not), and 14 validation runs
    never used to set anything. With these defaults the verdict equals the truth on 13 of 13
    calibration runs and 10 of 10 validation runs (the study's table and its threshold sweep).
    """

    match_bpm: float = 6.0
    """Two rates agree when they differ by at most this. A 10 s clip's Hann main lobe is ±12 bpm wide,
    and the peaks of two clean estimates of one rate differ by 1-2 bpm; runs that learn have HR MAE
    under 1 bpm on 10 s windows, runs that do not are off by 10 bpm or more."""

    pulse_snr_db: float = 0.0
    """A clip shows a chrominance pulse when POS's SNR at its own peak is at least this. Calibration: the
    median POS SNR is 5-7 dB on clips with a pulse and about -2 dB on the no-pulse and flicker-only
    runs' clips; the sweep gives the same calibration score from -2 to 2 dB."""

    trace_snr_db: float = 0.0
    """A light or motion trace carries a rate when its SNR at its own peak is at least this."""

    min_pulse_clips: float = 0.25
    """pulse_evidence below this: too few clips show a chrominance pulse to judge learning; the run is
    "not learning" (clips without a pulse cannot teach one). Calibration: 0.08 and 0.17 on the no-pulse
    and flicker-only runs, 0.92-1.0 on every run whose clips have a pulse (0.33-0.42 on the low-amplitude
    and strong-head-motion clips). A no-pulse run above it (validation: brighter light changes, 0.29) is
    still judged by chroma_agreement, which no-pulse clips cannot pass."""

    chroma_agreement: float = 0.7
    """Learning when at least this share of the clips with a chrominance pulse get the predicted rate
    within match_bpm of it. Calibration: 0.83-0.92 on the runs that learn (SiNC with the colour prior,
    supervised), 0-0.46 on the runs that do not, except one at 0.67 (SSPD without view motion, held-out
    MAE 16.9 bpm); the sweep scores 13 of 13 from 0.7 to 0.8 and 12 of 13 at 0.6. 0.7 keeps the widest
    margin below the learning runs."""

    collapsed_temporal_std: float = 0.01
    """Predictions whose std over time is under this share of their RMS are flat: collapsed."""

    collapsed_cross_clip_corr: float = 0.9
    """Predictions correlated above this across different clips are one output for every input: collapsed."""

    follows_share: float = 0.4
    """A non-learning run "follows" the light, the motion, a harmonic or a fixed rate when at least this
    share of its clips do; otherwise its rates follow nothing the clips carry (noise)."""


DEFAULT_HEALTH = HealthThresholds()


@dataclass(frozen=True)
class LabelCheck:
    """Label-based truth on the same clips, shown apart from the verdict and never feeding it.

    Attributes:
        mae_bpm, r: the predicted rates against the label rates (mean absolute error, Pearson r).
        pos_mae_bpm: POS's rates against the labels on the same clips.
        n_clips: clips with a label.
    """

    mae_bpm: float
    r: float
    pos_mae_bpm: float
    n_clips: int

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "LabelCheck":
        """From :func:`health_json`'s ``labels`` (None for a non-finite figure)."""
        def num(key: str) -> float:
            value = values.get(key)
            return float(value) if isinstance(value, (int, float)) else math.nan
        return cls(num("mae_bpm"), num("r"), num("pos_mae_bpm"), int(values.get("n_clips") or 0))

    def line(self) -> str:
        return (f"predictor HR MAE {self.mae_bpm:.1f} bpm, r {self.r:.2f} against the labels; POS "
                f"{self.pos_mae_bpm:.1f} bpm on the same clips ({self.n_clips} clips)")


@dataclass(frozen=True)
class Health:
    """The verdict on one network's predictions, with the evidence.

    Attributes:
        verdict: one of :data:`HEALTH_LEVELS`.
        probe, value: the probe that decided it and its value.
        follows: when not learning, what the predicted rates follow ("the light", "the head motion",
            "twice or half the pulse rate", "a fixed rate of X bpm", "noise"); None when learning.
        reason: one sentence for logs and the report.
        probes: every probe, ``{name: value}`` (NaN where undefined).
        clips: per-clip rates and SNRs (lists, for the report and the study).
        labels: the :class:`LabelCheck`, or None without labels.
    """

    verdict: str
    probe: str
    value: float
    follows: str | None
    reason: str
    probes: dict[str, float] = field(default_factory=dict)
    clips: dict[str, list[float]] = field(default_factory=dict)
    labels: LabelCheck | None = None

    def headline(self) -> str:
        """The report's first line: the labels' truth when known, then the verdict."""
        head = f"{self.verdict} ({self.probe} = {self.value:.3g})"
        if self.follows:
            head += f": the predicted rates follow {self.follows}"
        return (self.labels.line() + ". Label-free verdict: " + head) if self.labels else "Label-free verdict: " + head


def _near(a: np.ndarray, b: np.ndarray, tolerance: float) -> np.ndarray:
    """Elementwise |a - b| <= tolerance, False where either is NaN."""
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) <= tolerance


def _share(mask: np.ndarray, among: np.ndarray | None = None) -> float:
    among = np.ones_like(mask, dtype=bool) if among is None else among
    return float(mask[among].mean()) if among.any() else math.nan


def _pileup(hr: np.ndarray, tolerance: float) -> tuple[float, float]:
    """(share of clips within ±tolerance of the densest rate, that rate); NaN without a finite rate."""
    hr = hr[np.isfinite(hr)]
    if hr.size == 0:
        return math.nan, math.nan
    mode, share = pileup(hr, tolerance)
    return share, mode


def _collapse_probes(predictions: np.ndarray) -> dict[str, float]:
    """The collapse monitor's flat-output and same-output probes on the clips' predictions."""
    return {"pred_temporal_std": temporal_std(predictions), "cross_clip_corr": cross_clip_correlation(predictions)}


def _trace_rates(traces: Sequence[ClipTraces], fs: float,
                 band: tuple[float, float] = DEFAULT_BAND) -> dict[str, np.ndarray]:
    """Per clip: POS, light and motion (the stronger axis) rates and SNRs. A clip whose mean colour does
    not change (a constant video) has no POS pulse: NaN rate, -inf SNR."""
    rgb = np.stack([t.rgb for t in traces])  # (N, 3, T)
    varying = np.ptp(rgb, axis=-1).max(axis=-1) > 0  # (N,) POS needs a colour that changes
    pos_hr, pos_snr = np.full(len(traces), np.nan), np.full(len(traces), -np.inf)
    if varying.any():
        pos_hr[varying], pos_snr[varying] = rates(pos(rgb[varying], fs), fs, band)
    light_hr, light_snr = rates(np.stack([t.light for t in traces]), fs, band)
    mx_hr, mx_snr = rates(np.stack([t.motion[0] for t in traces]), fs, band)
    my_hr, my_snr = rates(np.stack([t.motion[1] for t in traces]), fs, band)
    use_y = my_snr > mx_snr
    return {"pos_hr": pos_hr, "pos_snr": pos_snr, "light_hr": light_hr, "light_snr": light_snr,
            "motion_hr": np.where(use_y, my_hr, mx_hr), "motion_snr": np.where(use_y, my_snr, mx_snr)}


def _evidence(pred_hr: np.ndarray, pred_snr: np.ndarray, tr: dict[str, np.ndarray],
              th: HealthThresholds) -> dict[str, float]:
    """The label-free probes of the predicted rates against the clips' own rates."""
    tol = th.match_bpm
    light_on = tr["light_snr"] >= th.trace_snr_db
    motion_on = tr["motion_snr"] >= th.trace_snr_db
    # a POS rate that a stronger motion trace shares is not evidence of a pulse (a change of the light
    # scales every channel alike, which POS removes; the pulse itself drives the light trace too)
    explained = motion_on & _near(tr["pos_hr"], tr["motion_hr"], tol) & (tr["motion_snr"] >= tr["pos_snr"])
    pulse = (tr["pos_snr"] >= th.pulse_snr_db) & ~explained
    at_pulse = _near(pred_hr, tr["pos_hr"], tol)
    harmonic = _near(pred_hr, 2 * tr["pos_hr"], tol) | _near(pred_hr, tr["pos_hr"] / 2, tol)
    other_than_pulse = ~(pulse & at_pulse)
    share_fixed, fixed_at = _pileup(pred_hr, 3.0)
    pos_fixed, _ = _pileup(tr["pos_hr"][pulse], 3.0) if pulse.any() else (math.nan, math.nan)
    carries = np.isfinite(tr["pos_snr"]) | np.isfinite(tr["light_snr"]) | np.isfinite(tr["motion_snr"])
    return {
        "signal_clips": _share(carries),
        "pulse_evidence": _share(pulse),
        "chroma_agreement": _share(at_pulse, pulse),
        "self_snr_db": float(np.median(pred_snr[np.isfinite(pred_snr)])) if np.isfinite(pred_snr).any() else -math.inf,
        "light_lock": _share(light_on & _near(pred_hr, tr["light_hr"], tol) & other_than_pulse),
        "motion_lock": _share(motion_on & _near(pred_hr, tr["motion_hr"], tol) & other_than_pulse),
        "harmonic_lock": _share(harmonic & ~at_pulse, pulse),
        "fixed_rate": share_fixed if not (pos_fixed >= share_fixed) else math.nan,
        "fixed_rate_bpm": fixed_at,
        "pos_snr_db": float(np.median(tr["pos_snr"])),
    }


def _follows(p: dict[str, float], th: HealthThresholds) -> str:
    """What a non-learning run's predicted rates follow: the strongest lock held by enough clips."""
    named = {"light_lock": "the light (mean brightness)", "motion_lock": "the head motion",
             "harmonic_lock": "twice or half the pulse rate",
             "fixed_rate": f"a fixed rate of {p['fixed_rate_bpm']:.0f} bpm"}
    held = {k: p[k] for k in named if p[k] >= th.follows_share}
    if not held:
        return "noise (a rate the clips' colour, light and motion do not carry)"
    return named[max(held, key=held.get)]


def assess_health(predictions: Any, traces: Sequence[ClipTraces], fs: float, *,
                  labels_hr: Any = None, thresholds: HealthThresholds = DEFAULT_HEALTH,
                  band: tuple[float, float] = DEFAULT_BAND, signal: str = "pulse") -> Health:
    """The label-free verdict on a network's predictions of N clips.

    Args:
        predictions: (N, T) the network's signal of each clip (stitched over windows for long clips).
        traces: N :class:`ClipTraces` of the same clips (T frames each; :func:`clip_traces`).
        fs: frame rate in Hz. Clips of 10 s or more give rates to within a few bpm.
        labels_hr: optional (N,) label HRs (bpm) for the :class:`LabelCheck`; never used by the verdict.
        thresholds: the rules, :class:`HealthThresholds`.
        band: (low, high) Hz where every rate is searched (a run's ``RunFacts.band``).
        signal: what the predictions follow, ``"pulse"`` or ``"diff"`` (the pulse's difference, the
            network's ``signal``): a difference is integrated, its mean removed first, and its rates are
            searched with the estimator's octave check, as sspd predict reads it. The collapse probes read
            the predictions as they are.
    """
    if signal not in ("pulse", "diff"):
        raise ValueError(f"assess_health: signal must be 'pulse' or 'diff', got {signal!r}")
    preds = np.asarray(predictions, dtype=np.float64)
    if preds.ndim != 2 or len(traces) != preds.shape[0] or preds.shape[0] < 2:
        raise ValueError(f"assess_health needs (N, T) predictions of N >= 2 clips and N traces, got "
                         f"{preds.shape} and {len(traces)} traces")
    n = preds.shape[1]
    if any(t.rgb.shape[1] != n for t in traces):
        raise ValueError(f"assess_health: every clip's traces must have the predictions' {n} samples")
    if not np.isfinite(preds).all():
        return Health("collapsed", "finite_predictions", 0.0, "nothing (non-finite outputs)",
                      "the predictions are not finite")
    read = integrate(preds, axis=1) if signal == "diff" else preds
    pred_hr, pred_snr = rates(read, fs, band, integrated=signal == "diff")
    clip_rates = {"pred_hr": pred_hr, "pred_snr": pred_snr, **_trace_rates(traces, fs, band)}
    labels = None if labels_hr is None else label_check(pred_hr, clip_rates["pos_hr"], labels_hr)
    return judge_rates(clip_rates, _collapse_probes(preds), thresholds=thresholds, labels=labels)


def judge_rates(clip_rates: dict[str, Any], collapse_probes: dict[str, float], *,
                thresholds: HealthThresholds = DEFAULT_HEALTH, labels: LabelCheck | None = None) -> Health:
    """The verdict from per-clip rates and the two collapse probes (what :func:`assess_health` computes).

    Args:
        clip_rates: (N,) arrays ``pred_hr``, ``pred_snr``, ``pos_hr``, ``pos_snr``, ``light_hr``,
            ``light_snr``, ``motion_hr``, ``motion_snr`` (bpm, dB), as in :attr:`Health.clips`.
        collapse_probes: ``pred_temporal_std`` and ``cross_clip_corr`` of the predictions.
    """
    th = thresholds
    tr = {k: np.asarray(v, dtype=np.float64) for k, v in clip_rates.items()}
    probes = dict(collapse_probes)
    probes.update(_evidence(tr["pred_hr"], tr["pred_snr"], tr, th))
    clips = {k: [float(x) for x in v] for k, v in tr.items()}

    def make(verdict: str, probe: str, follows: str | None, reason: str) -> Health:
        return Health(verdict, probe, float(probes[probe]), follows, reason, probes, clips, labels)

    if not probes["signal_clips"] > 0:  # before the collapse rules: constant clips give a flat output
        return make("not learning", "signal_clips", "nothing (the clips carry no signal)",
                    f"none of the {len(tr['pos_snr'])} clips carries a signal: their mean colour, brightness and "
                    "position never change (a constant video, no face?), so there is no pulse to learn and "
                    "nothing to judge the predictions against")
    if probes["pred_temporal_std"] < th.collapsed_temporal_std:
        return make("collapsed", "pred_temporal_std", "nothing (a flat output)",
                    f"the predictions are flat (std over time {probes['pred_temporal_std']:.3g} of their RMS)")
    if probes["cross_clip_corr"] > th.collapsed_cross_clip_corr:
        return make("collapsed", "cross_clip_corr", "nothing (one output for every clip)",
                    f"every clip gets the same output (cross-clip |r| {probes['cross_clip_corr']:.3g})")
    if not probes["pulse_evidence"] >= th.min_pulse_clips:
        follows = _follows(probes, th)
        return make("not learning", "pulse_evidence", follows,
                    f"only {probes['pulse_evidence']:.0%} of the clips show a chrominance pulse (POS), under "
                    f"{th.min_pulse_clips:.0%}: there is no pulse to learn; the predicted rates follow {follows}")
    if probes["chroma_agreement"] >= th.chroma_agreement:
        return make("learning", "chroma_agreement", None,
                    f"{probes['chroma_agreement']:.0%} of the clips with a chrominance pulse get the predicted "
                    f"rate within {th.match_bpm:g} bpm of it")
    follows = _follows(probes, th)
    return make("not learning", "chroma_agreement", follows,
                f"only {probes['chroma_agreement']:.0%} of the clips with a chrominance pulse get the predicted "
                f"rate at that pulse (>= {th.chroma_agreement:.0%} needed); the predicted rates follow {follows}")


def label_check(pred_hr: Any, pos_hr: Any, labels_hr: Any) -> LabelCheck:
    """The :class:`LabelCheck` of (N,) predicted and POS rates (bpm, :func:`rates`) against (N,) label
    HRs (NaN labels skipped)."""
    labels = np.asarray(labels_hr, dtype=np.float64).reshape(-1)
    pred_hr, pos_hr = (np.asarray(x, dtype=np.float64).reshape(-1) for x in (pred_hr, pos_hr))
    if not labels.size == pred_hr.size == pos_hr.size:
        raise ValueError(f"label_check: {labels.size} labels for {pred_hr.size} predicted and {pos_hr.size} "
                         "POS rates")
    keep = np.isfinite(labels)
    ok = keep & np.isfinite(pred_hr)
    mae = float(np.mean(np.abs(pred_hr[ok] - labels[ok]))) if ok.any() else math.nan
    r = (float(np.corrcoef(pred_hr[ok], labels[ok])[0, 1])
         if ok.sum() > 2 and pred_hr[ok].std() > 0 and labels[ok].std() > 0 else math.nan)
    pos_ok = keep & np.isfinite(pos_hr)  # POS has no rate on a constant clip
    pos_mae = float(np.mean(np.abs(pos_hr[pos_ok] - labels[pos_ok]))) if pos_ok.any() else math.nan
    return LabelCheck(mae, r, pos_mae, int(keep.sum()))


def health_json(health: Health, *, step: int | None = None) -> dict[str, Any]:
    """A JSON-ready dict of a :class:`Health` (non-finite floats become None)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    out = {"step": step, "verdict": health.verdict, "probe": health.probe, "value": health.value,
           "follows": health.follows, "reason": health.reason, "headline": health.headline(),
           "probes": health.probes, "clips": health.clips,
           "labels": None if health.labels is None else asdict(health.labels)}
    return clean(out)


#: ``health/level`` of the sinks: the index of the verdict
_LEVEL_INDEX = {"learning": 0, "not learning": 1, "collapsed": 2}


def health_scalars(health: Health) -> dict[str, float]:
    """``{"health/level": 0 learning | 1 not learning | 2 collapsed, "health/<probe>": value}`` (finite only)."""
    out = {"health/level": float(_LEVEL_INDEX[health.verdict])}
    out.update({f"health/{k}": float(v) for k, v in health.probes.items() if math.isfinite(v)})
    if health.labels is not None:
        labels = {"label_mae_bpm": health.labels.mae_bpm, "label_r": health.labels.r,
                  "label_pos_mae_bpm": health.labels.pos_mae_bpm}
        out.update({f"health/{k}": float(v) for k, v in labels.items() if math.isfinite(v)})
    return out


def run_verdict(collapse: dict[str, Any] | None, health: dict[str, Any] | None) -> dict[str, Any]:
    """The run's verdict from the collapse monitor's report and the latest health check (both as JSON).

    "collapsed" when the monitor declared collapse (its probe decides), else the health check's verdict
    and probe, else "unknown" (no health check yet). Returns ``{"verdict", "verdict_probe",
    "verdict_reason", "follows"}``, the keys collapse.json carries.
    """
    collapse = collapse or {}
    if collapse.get("collapse"):
        return {"verdict": "collapsed", "verdict_probe": collapse.get("probe"),
                "verdict_reason": collapse.get("message", ""), "follows": None}
    if health and health.get("verdict") in HEALTH_LEVELS:
        return {"verdict": health["verdict"], "verdict_probe": health.get("probe"),
                "verdict_reason": health.get("reason", ""), "follows": health.get("follows")}
    return {"verdict": "unknown", "verdict_probe": None,
            "verdict_reason": "no health check yet (it runs at every checkpoint and at the end)", "follows": None}
