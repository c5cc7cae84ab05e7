"""Named architectures: two small offline ones, and the paper's configurations.

The paper uses 256 patches (patch 2 at 32x32, patch 4 at 64x64). `imagenet32` and
`imagenet64` are Table 3's ImageNet-1k models; `cifar10` is the ImageNet-21k 32x32 model
that the paper fine-tunes on CIFAR-10; `in64_ablation` is the section 3.2 ablation model.
"""
from jetbook.jet import JetConfig

presets = {
    # 8x8x1 sklearn digits: small enough for a CPU in minutes.
    # On a CPU a fully unrolled layer loop is about 2x faster than scan (fewer, larger ops).
    "digits": JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=16,
                        vit_depth=1, vit_width=64, vit_heads=2, scan_unroll=16),
    # 32x32x3 crops of bundled photographs: a real-image model that still trains on a CPU.
    "patches": JetConfig(image_shape=(32, 32, 3), patch_size=4, num_couplings=8,
                         vit_depth=1, vit_width=128, vit_heads=4, scan_unroll=8),
    "cifar10": JetConfig(image_shape=(32, 32, 3), patch_size=2, num_couplings=64,
                         vit_depth=6, vit_width=768, vit_heads=12),
    "imagenet32": JetConfig(image_shape=(32, 32, 3), patch_size=2, num_couplings=64,
                            vit_depth=6, vit_width=256, vit_heads=4),
    "imagenet64": JetConfig(image_shape=(64, 64, 3), patch_size=4, num_couplings=64,
                            vit_depth=5, vit_width=512, vit_heads=8),
    "in64_ablation": JetConfig(image_shape=(64, 64, 3), patch_size=4, num_couplings=32,
                               vit_depth=2, vit_width=512, vit_heads=8),
}


def get_preset(name: str) -> JetConfig:
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(presets)}")
    return presets[name]
