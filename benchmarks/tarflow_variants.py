"""`jetbook train --preset tarflow_digits` with a TarFlow variant the config cannot express,
patched in for one study (results/tarflow_digits_differences.jsonl):

    python benchmarks/tarflow_variants.py nonorm OUT [--set field=value ...]

"nonorm" drops the LayerNorm after each flow block's Transformer layers (TarFlow's own
blocks have none); any other name changes nothing but what --set changes."""
import sys, os
variant = sys.argv[1]; out = sys.argv[2]; extra = sys.argv[3:]
from jetbook.flows import vit
if "nonorm" in variant:
    def call(self, h, causal=False):
        for block in self.blocks:
            h = block(h, causal)
        return h
    vit.Encoder.__call__ = call
    orig_decode = vit.Encoder.decode
    def decode(self, h, caches, position):
        new = []
        for block, cache in zip(self.blocks, caches):
            h, cache = block.decode(h, cache, position); new.append(cache)
        return h, new
    vit.Encoder.decode = decode
from jetbook.cli import main
sys.argv = ["jetbook", "train", "--preset", "tarflow_digits", "--out", out] + extra
main()
