"""Speed of SSPD's training step, ours against the SSPD release's style, measured in the same run.

Part (a): the self-similarity losses of one pyramid level: the wave (SSW), the diagonal-std term (SD)
and the band-ratio term, forward and forward+backward, from a given self-similarity map (B, T', T').
The reference is the release's style: per sample, a Python double loop over (i, j) that reads
SSM[i, j] one element at a time into per-lag lists, then one std / mean per lag. It is slow, so it is
timed on a few samples and scaled to the batch (it is linear in the batch: one loop per sample). Both
forms run on one CPU thread by default (--threads).

Part (b): one full SSPD-Net training step (views, online and target forward, all losses, backward,
Adam, EMA) at batch 2, 150 frames, 128×128 from 151×151 boxes, on 2 CPU threads, every variant through
the library's one optimiser step (:class:`sspd.engine.OptimiserStep`, bf16 as its precision); the
warm-up step is excluded and the median of --steps steps is reported per variant (fp32 contiguous, fp32
channels-last 3-D, bf16 autocast + channels-last unless --no-bf16), interleaved so every variant sees
the same machine load. The reference is a release-style step measured in the same run: fp32 contiguous
(the pools are ``avg_pool3d``, as the release's ``AvgPool3d``), the SD and band-ratio terms in the loop
form of part (a) with their backward, and the EMA one parameter at a time. The process CPU time per
step is printed too, since on a shared machine the wall time mostly measures the load. Adam is the fused
CPU kernel. --keep-memory adds an fp32 channels-last variant run with glibc keeping freed memory
(MALLOC_MMAP_MAX_=0 in effect), which spares the page faults of the step's large activations; it is a
process-wide allocator setting, not a library change.

Usage: python benchmarks/sspd_step.py [--parts a,b] [--batch 12] [--tokens 292] [--dim 256] [--keep-memory]
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import statistics
import time
from typing import Callable

import torch

from sspd.engine import OptimiserStep, TrainStep, create_sspd_network
from sspd.objectives import Objective, ObjectiveSpec
from sspd.models.outputs import NetworkOutputs
from sspd.objectives.sspd import SSPDObjectiveConfig, predictor_loss_terms
from sspd.ssm import (band_ratio_loss, diagonal_std_loss, pyramid_loss, self_similarity_map,
                      self_similarity_wave)


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _interleaved_medians(reference: Callable[[], object], ours: Callable[[], object],
                         repeats: int) -> tuple[float, float]:
    """Median seconds of both functions, run alternately so that both see the same machine load."""
    reference(), ours()  # warm-up
    pairs = [(_seconds(reference), _seconds(ours)) for _ in range(repeats)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


# ---- part (a): SSW + SD + band ratio -----------------------------------------------------------------
def _loop_losses(ssm: torch.Tensor, fs: float) -> torch.Tensor:
    """The release's style, (B, T', T') → scalar: Python loops over samples and (i, j)."""
    sd, ratio = _loop_terms(ssm, fs)
    return sd + ratio


def _loop_terms(ssm: torch.Tensor, fs: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The release's style SD and band-ratio terms, (B, T', T') → two batch means."""
    n = ssm.shape[-1]
    freqs = torch.fft.rfftfreq(n, d=1.0 / fs)
    in_band, total = (freqs >= 0.5) & (freqs <= 3.0), freqs < fs / 2
    per_sample = []
    for b in range(ssm.shape[0]):
        lags = [[] for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                lags[j - i].append(ssm[b, i, j])
        wave = torch.stack([torch.stack(values).mean() for values in lags])
        sd = torch.stack([torch.stack(lags[d]).std() * (n - d) / 20 for d in range(1, n - 1)]).mean()
        spec = torch.fft.rfft(wave).abs()
        spec = spec / spec.max()
        ratio = (spec[total].sum() + 1e-4) / (spec[in_band].sum() + 1e-4) - 1
        per_sample.append(torch.stack([sd, ratio]))
    return tuple(torch.stack(per_sample).mean(dim=0).unbind())


def _vectorised_losses(ssm: torch.Tensor, fs: float) -> torch.Tensor:
    """The library, (B, T', T') → scalar."""
    return diagonal_std_loss(ssm) + band_ratio_loss(self_similarity_wave(ssm), fs)


def run_part_a(batch: int, tokens: int, dim: int, loop_samples: int, repeats: int, fs: float,
               loop_backward: bool) -> None:
    """Print part (a)'s table: loop vs vectorised SSW + SD + band ratio per batch, and the ratios."""
    h = torch.randn(batch, tokens, dim, generator=torch.Generator().manual_seed(0))
    ssm = self_similarity_map(h)                    # (B, T', T'), the shared input of both forms
    leaf = ssm.clone().requires_grad_(True)
    sample = leaf[:loop_samples].detach().clone().requires_grad_(True)
    gap = float((_loop_losses(ssm[:2], fs) - _vectorised_losses(ssm[:2], fs)).abs())
    scale = batch / loop_samples
    loop_fwd, vec_fwd = _interleaved_medians(lambda: _loop_losses(sample.detach(), fs),
                                             lambda: _vectorised_losses(leaf.detach(), fs), repeats)
    vec_both = statistics.median(_seconds(lambda: _vectorised_losses(leaf, fs).backward())
                                 for _ in range(repeats))
    loop_both = _seconds(lambda: _loop_losses(sample, fs).backward()) * scale if loop_backward else None
    print(f"part (a): SSW + SD + band ratio of one level, B={batch}, T'={tokens} (SSM from h with "
          f"D={dim}), fs={fs:g} Hz, CPU, {torch.get_num_threads()} torch thread(s)")
    print(f"loop form timed on {loop_samples} sample(s) and scaled x{scale:g} to the batch; medians of "
          f"{repeats} runs, alternating loop and vectorised; |loop - vectorised| on 2 samples = {gap:.1e}")
    print(f"{'form':<30}{'forward ms':>12}{'fwd+bwd ms':>12}")
    loop_both_text = f"{loop_both * 1e3:>12.0f}" if loop_both else f"{'(opt-in)':>12}"
    print(f"{'loop (release style)':<30}{loop_fwd * scale * 1e3:>12.0f}{loop_both_text}")
    print(f"{'vectorised (sspd.ssm)':<30}{vec_fwd * 1e3:>12.2f}{vec_both * 1e3:>12.2f}")
    both_ratio = f"{loop_both / vec_both:>11.0f}x" if loop_both else f"{'-':>12}"
    print(f"{'speed-up (loop / vectorised)':<30}{loop_fwd * scale / vec_fwd:>11.0f}x{both_ratio}")
    if not loop_both:
        print("(the loop form's backward takes minutes per sample: --loop-backward times it once)")


# ---- part (b): one full training step -----------------------------------------------------------------
def _release_style_objective(online: NetworkOutputs, target: NetworkOutputs, fs: torch.Tensor, batch: dict,
                             config: SSPDObjectiveConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """SSPD's loss with the SD and band-ratio terms in the release's loop form (one clip rate)."""
    rate = float(fs[0])
    pyr, sd, snr = [], [], []
    for h_o, h_t in zip(online.hs, target.hs):
        ssm_o, ssm_t = self_similarity_map(h_o), self_similarity_map(h_t.detach())
        pyr.append(pyramid_loss(ssm_o, ssm_t, self_similarity_wave(ssm_o), self_similarity_wave(ssm_t)))
        level_sd, level_snr = _loop_terms(ssm_o, rate)
        sd.append(level_sd)
        snr.append(level_snr)
    rpd = torch.stack(list(predictor_loss_terms(online.rppg, target.rppg, rate))).sum(dim=0).mean()
    weights = config.weights
    total = (weights.rpd * rpd + weights.pyr * sum(pyr) + weights.sd * torch.stack(sd).mean()
             + weights.snr * torch.stack(snr).mean())
    return total, {"total": total.detach()}


_RELEASE_STYLE = ObjectiveSpec(name="sspd-release-style", fn=_release_style_objective,
                               config_type=SSPDObjectiveConfig, needs_target=True, uses_ts=True,
                               detach_predictor=True, description="SSPD with the release's loop-form losses")


class _PerParameterEMA(TrainStep):
    """The release's EMA: after the optimiser step, one in-place update per target parameter."""

    def update(self, step: int, total_steps: int, scaler=None) -> dict[str, torch.Tensor]:
        momentum = self.momentum(step, total_steps)
        self.optimizer.step()
        with torch.no_grad():
            for target, online in zip(self.target_network.parameters(), self.online_network.parameters()):
                target.mul_(momentum).add_(online, alpha=1.0 - momentum)
        return {"momentum": torch.tensor(momentum, dtype=torch.float64),
                "lr": torch.tensor(self.optimizer.param_groups[0]["lr"], dtype=torch.float64),
                "stepped": torch.tensor(1.0)}


REFERENCE = "release style (reference)"


def _make_trainer(frames: int, size: int, channels_last: bool, reference: bool = False) -> TrainStep:
    torch.manual_seed(0)
    network = create_sspd_network("sspdnet", frames=frames, input_size=size)
    # fused: one kernel over all parameters instead of ~10 small ops per tensor (the same update within
    # float rounding); on a busy 2-core machine the unfused step costs up to a second in thread hand-offs
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, fused=not reference)
    if reference:
        return _PerParameterEMA(network, optimizer, objective=Objective(_RELEASE_STYLE, SSPDObjectiveConfig()),
                                seed=0)
    return TrainStep(network, optimizer, seed=0, channels_last=channels_last)


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters


def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (has mallopt and malloc_trim), else None."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _keep_freed_memory(libc: ctypes.CDLL | None, keep: bool) -> None:
    """Make glibc keep freed memory (no mmap, no trim) or restore its defaults and hand memory back.

    By default every tensor over 32 MB is a fresh mmap, so each of the step's many 100-300 MB
    activations and gradients is page-faulted in, zeroed by the kernel and unmapped again; kept, the
    heap reuses the same pages. Same as starting Python with MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1G.
    """
    if libc is None:
        return
    if keep:
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    else:
        libc.mallopt(_M_MMAP_MAX, 65536)             # glibc defaults
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)


def _timed_step(stepper: OptimiserStep, batch: dict, step: int) -> tuple[float, float]:
    """(wall, process CPU) seconds of one optimiser step."""
    wall, cpu = time.perf_counter(), time.process_time()
    stepper.step([batch], step)
    return time.perf_counter() - wall, time.process_time() - cpu


def run_part_b(batch: int, frames: int, size: int, box: int, steps: int, bf16: bool,
               keep_memory: bool) -> None:
    """Print part (b)'s table: median wall and CPU seconds per full step, per variant."""
    # name: (channels_last, bf16, glibc keeps freed memory)
    variants = {REFERENCE: (False, False, False), "fp32, contiguous": (False, False, False),
                "fp32, channels_last_3d": (True, False, False)}
    if bf16:
        variants["bf16 autocast, channels_last_3d"] = (True, True, False)
    libc = _glibc() if keep_memory else None
    if libc is not None:
        variants["fp32, channels_last_3d, kept memory"] = (True, False, True)
    elif keep_memory:
        print("(--keep-memory needs glibc: its variant is skipped)")
    steppers = {name: OptimiserStep(_make_trainer(frames, size, cl, reference=name == REFERENCE),
                                    total_steps=1000, precision="bf16" if use_bf16 else "fp32")
                for name, (cl, use_bf16, _) in variants.items()}
    clips = 255 * torch.rand(batch, 3, frames + 1, box, box, generator=torch.Generator().manual_seed(0))
    data = {"video": clips, "fps": 30.0}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for step in range(steps + 1):  # step 0 is the warm-up
        for name, (_, _, keep) in variants.items():
            _keep_freed_memory(libc, keep)
            wall_cpu = _timed_step(steppers[name], data, step)
            _keep_freed_memory(libc, False)
            if step:
                times[name].append(wall_cpu)
    print(f"part (b): one SSPD-Net training step (views, online + target forward, all losses, backward, "
          f"Adam, EMA), B={batch}, T={frames}, {size}×{size} from {box}×{box}, CPU, "
          f"{torch.get_num_threads()} torch thread(s); median of {steps} steps after 1 warm-up, variants "
          f"interleaved; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'variant':<34}{'wall s':>9}{'CPU s':>9}{'vs reference':>14}{'vs contiguous':>15}")
    reference = statistics.median(w for w, _ in times[REFERENCE])
    base = statistics.median(w for w, _ in times["fp32, contiguous"])
    for name, values in times.items():
        wall, cpu = statistics.median(w for w, _ in values), statistics.median(c for _, c in values)
        print(f"{name:<34}{wall:>9.2f}{cpu:>9.2f}{reference / wall:>13.2f}x{base / wall:>14.2f}x")
    print("(CPU s / threads estimates the wall time on an idle machine; the reference is the release-style "
          "step timed in this run: fp32 contiguous, avg_pool3d, loop-form SD and band ratio, per-parameter "
          "EMA)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b", help="comma-separated parts to run (default: a,b)")
    parser.add_argument("--batch", type=int, default=12, help="clips per batch (release: 12)")
    parser.add_argument("--tokens", type=int, default=292, help="T' of the level (300 frames, k=9: 292)")
    parser.add_argument("--dim", type=int, default=256, help="feature width D (SSPD-Net: 256)")
    parser.add_argument("--loop-samples", type=int, default=1, help="samples the loop form is timed on")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats")
    parser.add_argument("--loop-backward", action="store_true",
                        help="also time the loop form's backward once (minutes: one autograd node "
                             "per element)")
    parser.add_argument("--steps", type=int, default=3, help="part (b): timed steps per variant (>= 3)")
    parser.add_argument("--frames", type=int, default=150, help="part (b): difference frames per clip")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false",
                        help="part (b): skip the bf16-autocast variant (emulated bf16 is slow on CPUs "
                             "without bf16 units; with AMX/AVX512-BF16 it is the fastest)")
    parser.add_argument("--keep-memory", action="store_true",
                        help="part (b): add an fp32 channels-last variant run with glibc keeping freed "
                             "memory (no mmap/trim: the big activations reuse pages instead of faulting)")
    parser.add_argument("--fs", type=float, default=30.0, help="frame rate in Hz")
    parser.add_argument("--threads", type=int, default=1,
                        help="part (a): torch intra-op threads (default 1: the loop form is single-threaded, "
                             "so one thread compares the algorithms, not the core count; more threads on a "
                             "busy machine can be far slower)")
    parser.add_argument("--step-threads", type=int, default=2,
                        help="part (b): torch threads of the training step (default 2, the reference's cores)")
    args = parser.parse_args()

    def part_b() -> None:
        torch.set_num_threads(args.step_threads)
        run_part_b(2, args.frames, 128, 151, max(args.steps, 1), args.bf16, args.keep_memory)

    def part_a() -> None:
        torch.set_num_threads(args.threads)
        run_part_a(args.batch, args.tokens, args.dim, args.loop_samples, args.repeats, args.fs,
                   args.loop_backward)

    parts = {"a": part_a, "b": part_b}
    for name in args.parts.split(","):
        if name not in parts:
            parser.error(f"unknown part {name!r}; known parts: {', '.join(parts)}")
        parts[name]()


if __name__ == "__main__":
    main()
