"""Backbone speed and cost: clips/s (forward, forward+backward) and MACs per frame, as a table.

    python benchmarks/backbones.py            # reference sizes (a few minutes on 2 CPU cores)
    python benchmarks/backbones.py --quick    # tiny sizes, seconds

Rows: every registered backbone at its reference clip size (PhysNet 128 frames, PhysFormer 160,
SSPD-Net 300; 128×128), plus SSPD-Net + SSPDPredictor, the paper's inference network. MACs are counted
with torch.utils.flop_counter (convolutions, matmuls and attention: multiply-accumulates = FLOPs / 2;
element-wise ops, norms and pools are not counted) on the meta device, so counting costs no compute.
Figures measured in the same run: each row's throughput relative to SSPD-Net, and its achieved
MAC rate relative to a dense float32 matmul on the same machine (a hardware-independent efficiency).
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sspd.backbones import count_parameters, create_backbone, list_backbones
from sspd.models.heads import SSPDPredictor

QUICK = {"physnet": dict(frames=16, input_size=32, width=0.25),
         "physformer": dict(frames=16, input_size=32, width=0.25),
         "sspdnet": dict(frames=16, input_size=66, width=0.25)}


class InferenceNet(nn.Module):
    """A backbone's feature map through a head: (B, 3, T, H, W) -> (B, T)."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        self.frames, self.input_size = backbone.frames, backbone.input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_features(x))


def build_models(quick: bool, device: torch.device | str = "cpu") -> dict[str, nn.Module]:
    """Name -> model at reference (or tiny) size on ``device``."""
    with torch.device(device):
        models = {name: create_backbone(name, **(QUICK[name] if quick else {})) for name in list_backbones()}
        sspdnet = create_backbone("sspdnet", **(QUICK["sspdnet"] if quick else {}))
        models["sspdnet+predictor"] = InferenceNet(sspdnet, SSPDPredictor(in_channels=sspdnet.feature_dim))
    return models


def make_clip(model: nn.Module, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A random clip (B, 3, T, H, W) of the model's reference size."""
    return torch.randn(batch, 3, model.frames, *model.input_size, device=device)


def count_macs(model_name: str, quick: bool, batch: int) -> int:
    """Forward MACs of one batch, counted on the meta device (no compute)."""
    model = build_models(quick, device="meta")[model_name]
    with FlopCounterMode(display=False) as counter:
        model(make_clip(model, batch, device="meta"))
    return counter.get_total_flops() // 2


def median_seconds(step: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``step`` over ``repeats`` runs after one warm-up run."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_model(model: nn.Module, clip: torch.Tensor, repeats: int) -> tuple[float, float]:
    """(forward s, forward+backward s) per batch: eval/no_grad for forward, train mode for training."""
    model.eval()
    with torch.no_grad():
        forward = median_seconds(lambda: model(clip), repeats)
    model.train()

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        model(clip).square().mean().backward()

    return forward, median_seconds(train_step, repeats)


def matmul_macs_per_second(size: int = 1024, repeats: int = 5) -> float:
    """Dense float32 matmul rate on this machine, the in-run reference for efficiency."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return size ** 3 / median_seconds(lambda: a @ b, repeats)


def measure(quick: bool, batch: int, repeats: int) -> list[dict]:
    """One row per model: parameters, MACs per frame, seconds per batch forward and forward+backward."""
    rows = []
    for name, model in build_models(quick).items():
        clip = make_clip(model, batch)
        forward, train = time_model(model, clip, repeats)
        macs = count_macs(name, quick, batch)
        rows.append(dict(name=name, params=count_parameters(model), frames=model.frames,
                         size=model.input_size, macs_per_frame=macs / (batch * model.frames),
                         fwd_clips=batch / forward, train_clips=batch / train, macs=macs, fwd_s=forward))
    return rows


def format_table(rows: list[dict], matmul_rate: float) -> str:
    """The result table; ratios against SSPD-Net and against the matmul rate of the same run."""
    ref = next(r for r in rows if r["name"] == "sspdnet")
    lines = [f"{'model':<18}{'params':>11}{'clip':>14}{'GMAC/frame':>12}{'GMAC/clip':>11}"
             f"{'fwd clip/s':>12}{'train clip/s':>14}{'fwd ×sspd':>11}{'train ×sspd':>13}{'fwd eff.':>10}"]
    for r in rows:
        clip = f"{r['frames']}×{r['size'][0]}×{r['size'][1]}"
        efficiency = r["macs"] / r["fwd_s"] / matmul_rate
        lines.append(f"{r['name']:<18}{r['params']:>11,}{clip:>14}{r['macs_per_frame'] / 1e9:>12.3f}"
                     f"{r['macs_per_frame'] * r['frames'] / 1e9:>11.2f}{r['fwd_clips']:>12.3f}"
                     f"{r['train_clips']:>14.3f}{r['fwd_clips'] / ref['fwd_clips']:>11.2f}"
                     f"{r['train_clips'] / ref['train_clips']:>13.2f}{efficiency:>10.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (width 0.25, 16 frames): seconds")
    parser.add_argument("--batch", type=int, default=1, help="clips per batch (default 1)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs after one warm-up, median reported (default 2; 10 with --quick)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.repeats is None:
        args.repeats = 10 if args.quick else 2
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be >= 1")
    torch.manual_seed(0)
    matmul_rate = matmul_macs_per_second()
    rows = measure(args.quick, args.batch, args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"median of {args.repeats} after 1 warm-up; dense matmul {matmul_rate / 1e9:.1f} GMAC/s")
    print(format_table(rows, matmul_rate))
    print("fwd: eval mode, no_grad. train: train mode, forward + backward of mean(y²). "
          "×sspd: throughput relative to SSPD-Net; fwd eff.: forward MAC rate / dense matmul MAC rate.")


if __name__ == "__main__":
    main()
