"""EMA of a target network: the one update function, momentum schedules, and the online/target pair.

    pair = OnlineTargetPair(online_net)                 # target: frozen deep copy
    optimizer = torch.optim.Adam(pair.parameters())     # online parameters only
    ...
    loss.backward()
    pair.step(optimizer, cosine_momentum(step, total_steps))   # optimiser step, then EMA
"""
from sspd.ema.pair import EMAConfig, OnlineTargetPair, optimizer_step
from sspd.ema.schedules import cosine_interpolate, cosine_momentum
from sspd.ema.update import BUFFER_POLICIES, update_ema

__all__ = ["update_ema", "cosine_momentum", "cosine_interpolate", "OnlineTargetPair", "optimizer_step",
           "BUFFER_POLICIES", "EMAConfig"]
