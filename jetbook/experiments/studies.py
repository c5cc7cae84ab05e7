"""The paper's ablations as data: each study is a base preset and the settings it compares,
with the section and table of the paper it mirrors. `jetbook ablate` (jetbook.experiments.ablate)
trains them; nothing here trains."""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from jetbook.flows.config import JetConfig
from jetbook.flows.flops import forward_flops

FLOPS_TOLERANCE = 0.10          # "matched FLOPs": every setting within 10 % of the first
# The dequantization flow's couplings, given to the uniform setting so that both settings
# have the same total number of couplings (the paper: 64 + 16 against 80).
DEQUANT_FLOW_COUPLINGS = 4


@dataclasses.dataclass(frozen=True)
class Study:
    """A base preset and its settings: `settings(base_model_config)` -> {label: changes}.

    `check(model_config)` rejects a configuration the study cannot use (raises ValueError);
    with `matched_flops` every setting's forward FLOPs must be within FLOPS_TOLERANCE."""

    name: str
    paper: str                  # the section and table it mirrors
    preset: str
    settings: Callable[[JetConfig], dict]
    check: Optional[Callable[[JetConfig], None]] = None
    matched_flops: bool = False
    from_paper: bool = True     # False: a choice of jetbook's own, which the paper never made


def _pattern_applies(cfg: JetConfig) -> None:
    if cfg.kinds is not None:
        raise ValueError(f"kinds={list(cfg.kinds)} fixes every coupling's kind, so the "
                         f"channel:spatial pattern this study varies would be ignored")


def _has_spatial(cfg: JetConfig) -> None:
    _pattern_applies(cfg)
    if all(kind == "channel" for kind in cfg.coupling_kinds):
        raise ValueError("coupling_mode only changes spatial couplings, and this pattern has "
                         "none (all channel)")


MIX = ("checkerboard", "checkerboard-inv", "rows", "rows-inv", "cols", "cols-inv")
CHECKERBOARD = ("checkerboard", "checkerboard-inv")


def _coupling_ratio(base: JetConfig) -> dict:
    out = {}
    for m in (0, 1, 2, 4):
        for kinds_name, kinds in (("mix", MIX), ("checkerboard", CHECKERBOARD)):
            ratio = "all spatial" if m == 0 else f"{m}:1"
            out[f"{ratio}, {kinds_name}"] = {"channel_per_spatial": m, "spatial_kinds": kinds}
    out["all channel"] = {"channel_per_spatial": base.num_couplings}
    return out


def _pairing_masking(base: JetConfig) -> dict:
    return {f"{'all spatial' if m == 0 else f'{m}:1'}, {mode}":
            {"channel_per_spatial": m, "coupling_mode": mode}
            for m in (0, 1, 4) for mode in ("pairing", "masking")}


def _depth_tradeoff(base: JetConfig) -> dict:
    """couplings x ViT depth at a constant product (1 channel : 1 spatial, so halving the
    couplings keeps their mix): the forward FLOPs stay matched."""
    out, n, depth = {}, base.num_couplings * base.vit_depth, 1
    while n >= 2 and n % 2 == 0:
        out[f"{n} couplings x depth {depth}"] = {"num_couplings": n, "vit_depth": depth,
                                                 "channel_per_spatial": 1}
        n, depth = n // 2, depth * 2
    return out


def _multiscale(base: JetConfig) -> dict:
    """Jet against RealNVP's multiscale architecture with one level. A stage after a squeeze
    has a quarter of the tokens, so its couplings cost about a quarter as much; the multiscale
    model gets the same number of couplings in each stage (as RealNVP does), as many as bring
    its forward FLOPs closest to Jet's (13 + 13 against digits' 16 couplings, +3 %)."""
    target = forward_flops(base, 1)
    multiscale = lambda n: base.replace(multiscale_levels=1, num_couplings=2 * n,
                                        stage_couplings=(n, n))
    n = min(range(1, 4 * base.num_couplings),
            key=lambda n: abs(forward_flops(multiscale(n), 1) - target))
    return {"Jet": {},
            "multiscale, 1 level": {"multiscale_levels": 1, "num_couplings": 2 * n,
                                    "stage_couplings": [n, n]}}


# (couplings, ViT depth) pairs of the same product, the deeper member 4 layers deep: the
# paper's 128 x 1 against 32 x 4, at the sizes a CPU trains in minutes.
DEPTH_PAIRS = ((16, 1, 4, 4), (32, 1, 8, 4))


def _depth_pairs(base: JetConfig) -> dict:
    """Each pair at equal compute (within FLOPS_TOLERANCE of each other; the two pairs differ
    by 2x, so the study-wide `matched_flops` does not apply and the pairs are checked here).
    1 channel : 1 spatial, as in depth_tradeoff, so 4 couplings still mix both families."""
    out = {}
    for pair in DEPTH_PAIRS:
        changes = [{"num_couplings": n, "vit_depth": d, "channel_per_spatial": 1}
                   for n, d in (pair[:2], pair[2:])]
        costs = [forward_flops(base.replace(**c), 1) for c in changes]
        if abs(costs[1] / costs[0] - 1) > FLOPS_TOLERANCE:
            raise ValueError(f"depth_pairs: {pair[0]} x {pair[1]} and {pair[2]} x {pair[3]} "
                             f"differ by more than {FLOPS_TOLERANCE:.0%} in forward FLOPs "
                             f"({costs[0]:.3g} against {costs[1]:.3g}) on this base config")
        out.update({f"{c['num_couplings']} couplings x depth {c['vit_depth']}": c
                    for c in changes})
    return out


STUDIES = {study.name: study for study in (
    # Digits: one level turns the 8x8x1 image (4x4 patch grid) into a 4x4x2 stage on a 2x2
    # grid, which still takes every spatial kind.
    Study("multiscale", "1 and 3.2.3", "digits", _multiscale, matched_flops=True),
    # Digits: on an 8x8 image with 2x2 patches the 4x4 grid takes every spatial kind, and a
    # "channel" coupling splits the four pixels of each patch, so both families still exist.
    Study("coupling_ratio", "3.2.1, Table 10", "digits", _coupling_ratio, _pattern_applies),
    Study("pairing_masking", "3.2.4, Table 2a", "digits", _pairing_masking, _has_spatial),
    Study("depth_tradeoff", "3.2.2, Figure 2", "digits", _depth_tradeoff, _pattern_applies,
          matched_flops=True),
    Study("depth_pairs", "3.2.2, Tables 8 and 9", "digits", _depth_pairs, _pattern_applies),
    # Patches: a convolution's locality only differs from attention on a grid larger than
    # its kernel (8x8 tokens here; digits' 4x4 grid is nearly covered by a 3x3 kernel).
    Study("vit_vs_cnn", "3.2.3, Figure 2a", "patches",
          lambda base: {"ViT": {"conditioner": "vit"}, "CNN": {"conditioner": "cnn"}},
          matched_flops=True),
    # Patches: ActNorm normalises, and the dense layer mixes, each patch's features; with
    # colour those are 48 values of three channels, on digits only 4 grey pixels.
    Study("actnorm_invdense", "3.2.5, Table 2b", "patches",
          lambda base: {f"actnorm {a}, dense {d}": {"actnorm": a, "invertible_dense": d}
                        for a in (False, True) for d in (False, True)}),
    # Digits: 17 levels make each dequantisation bin wide, where a learned noise shape has the
    # most room to beat uniform noise.
    Study("dequantization", "3.2.6", "digits",
          lambda base: {"uniform": {"dequantization": "uniform",
                                    "num_couplings": base.num_couplings + DEQUANT_FLOW_COUPLINGS},
                        "variational": {"dequantization": "variational",
                                        "dequant_couplings": DEQUANT_FLOW_COUPLINGS}}),
    # Not in the paper: how a spatial coupling's conditioner sees its half (JetConfig's
    # spatial_tokens). Half-patch tokens give every coupling one scan body, so one compile.
    Study("spatial_tokens", "none (jetbook's layout choice)", "digits",
          lambda base: {"whole patches": {}, "half patches": {"spatial_tokens": "half_patches"}},
          from_paper=False),
)}
PAPER_STUDIES = {name: study for name, study in STUDIES.items() if study.from_paper}
