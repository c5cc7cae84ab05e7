"""Analytic FLOP counts (multiply-adds x2) of a forward pass, from the configuration alone.

`bench` reports them and the memory planner uses them; the model uses `conditioner_width` to
give a CNN conditioner the width whose FLOPs match the ViT's.
"""
from __future__ import annotations

from jetbook.flows.cnn import block_flops as block_flops_cnn
from jetbook.flows.config import JetConfig, TarFlowConfig


def vit_block_flops(tokens: int, width: int, mlp: int) -> int:
    """One pre-LN Transformer block: qkv, output projection, MLP, scores and weighted sum."""
    return (2 * tokens * width * 3 * width + 2 * tokens * width * width
            + 2 * 2 * tokens * width * mlp + 4 * tokens * tokens * width)


def tarflow_forward_flops(cfg: TarFlowConfig, batch: int) -> int:
    """Per flow block: in-projection, the causal blocks (counted as full attention) and the
    read-out, on all K tokens at once."""
    k, p, w = cfg.num_tokens, cfg.patch_dim, cfg.width
    per_block = 2 * k * p * w + cfg.block_depth * vit_block_flops(k, w, cfg.mlp_ratio * w) + 2 * k * w * 2 * p
    return batch * cfg.num_blocks * per_block


def forward_flops(cfg: JetConfig, batch: int) -> int:
    """Multiply-adds x2 of one forward pass.

    Per coupling the conditioner sees T tokens (K for channel couplings, masking mode, CNN
    conditioners and spatial half-patch tokens, K/2 for spatial pairing on whole patches) of
    width w: in-projection 2*T*d_in*w;
    per ViT block 24*T*w^2 (qkv 6, output 2, MLP 16 with mlp_ratio 4) + 4*T^2*w (scores and
    weighted sum), per CNN block two 3x3 convolutions (`block_flops_cnn`); read-out
    2*T*w*d_out; plus the split and merge permutation products and, with
    `invertible_dense`, 2*K*P^2. LayerNorm, softmax and elementwise work are not counted.
    A multiscale Jet costs the sum of its stages.
    """
    if isinstance(cfg, TarFlowConfig):
        return tarflow_forward_flops(cfg, batch)
    if cfg.multiscale_levels:             # squeezes and factor-outs move data, no arithmetic
        return sum(forward_flops(stage, batch) for stage in cfg.stage_configs)
    width = conditioner_width(cfg)
    return batch * sum(_coupling_flops(cfg, kind, width) for kind in cfg.coupling_kinds)


def _coupling_flops(cfg: JetConfig, kind: str, width: int) -> int:
    k, p = cfg.num_tokens, cfg.patch_dim
    t = cfg.conditioner_tokens(spatial=kind != "channel")
    perm = 2 * 2 * k * p * p if kind == "channel" else 2 * 2 * k * k * p
    if kind == "channel" or cfg.shares_conditioner_shapes:      # K tokens of P/2 features
        d_in, d_out = p // 2, p
    else:
        d_in, d_out = p, 2 * p
    if cfg.conditioner == "cnn":
        body = block_flops_cnn(cfg.grid, width)   # the whole grid: t == K
    else:
        body = vit_block_flops(t, width, cfg.mlp_ratio * width)
    dense = 2 * k * p * p if cfg.invertible_dense else 0
    return 2 * t * d_in * width + cfg.vit_depth * body + 2 * t * width * d_out + perm + dense


def conditioner_width(cfg: JetConfig) -> int:
    """The conditioner's channels: vit_width for a ViT; for a CNN, cnn_width, or when that is 0
    the width whose forward FLOPs come closest to the same config with a ViT conditioner."""
    if cfg.conditioner != "cnn":
        return cfg.vit_width
    if cfg.cnn_width:
        return cfg.cnn_width
    target = forward_flops(cfg.replace(conditioner="vit"), 1)
    cost = lambda c: sum(_coupling_flops(cfg, kind, c) for kind in cfg.coupling_kinds)
    low, high = 1, 4 * cfg.vit_width         # cost grows with c: bisect for the crossing
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if cost(mid) < target else (low, mid)
    return min((low, high), key=lambda c: abs(cost(c) - target))
