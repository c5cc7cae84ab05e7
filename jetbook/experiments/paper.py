"""The Jet paper as data: every finding and number the course cites from it, in one place.

Kolesnikov, Susano Pinto and Tschannen, "Jet: A Modern Transformer-Based Normalizing Flow",
TMLR 2025, https://arxiv.org/abs/2412.15129.

Why it exists: a number typed into a notebook drifts from its source and nothing notices.
Here each finding carries the section or table it comes from, what the authors varied and
the direction they found (in this project's words), and each table its numbers. Notebooks
read their numbers from here (`finding(key).figures`, `table(name).value(row, column)`), and
`tests/experiments/test_paper.py` checks that every table and section a notebook cites is
one this module holds. Data only: no model, no training, no imports from the rest of jetbook.
"""
import dataclasses
import types
from typing import Any, Mapping

ARXIV = "https://arxiv.org/abs/2412.15129"
TITLE = "Jet: A Modern Transformer-Based Normalizing Flow (Kolesnikov, Susano Pinto, Tschannen, TMLR 2025)"
TARFLOW_ARXIV = "https://arxiv.org/abs/2412.06329"   # Zhai et al., the TarFlow paper (notebook 09)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One result of the paper: `where` it is (section, table, figure), what was `varied`, the
    `direction` found, and the paper's numbers behind it (`figures`, name -> value)."""
    key: str
    where: str
    varied: str
    direction: str
    figures: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "figures", types.MappingProxyType(dict(self.figures)))


@dataclasses.dataclass(frozen=True)
class Table:
    """One table of the paper: its numbers as `rows` (row label -> one value per column, None
    where the paper prints N/A or leaves the cell empty), bits per dimension unless said."""
    name: str
    where: str
    caption: str
    columns: tuple
    rows: Mapping[Any, tuple]

    def __post_init__(self):
        for label, values in self.rows.items():
            if len(values) != len(self.columns):
                raise ValueError(f"{self.name}, row {label!r}: {len(values)} values for "
                                 f"{len(self.columns)} columns")
        object.__setattr__(self, "rows", types.MappingProxyType(dict(self.rows)))

    def value(self, row, column):
        """The number in `row` and `column`; ValueError naming the labels for an unknown one."""
        if row not in self.rows:
            raise ValueError(f"{self.name} has no row {row!r}; rows: {list(self.rows)}")
        if column not in self.columns:
            raise ValueError(f"{self.name} has no column {column!r}; columns: {list(self.columns)}")
        return self.rows[row][self.columns.index(column)]


SECTIONS = {
    "§1": "introduction; the contributions list the components Jet drops, multiscale first",
    "§2": "the method",
    "§2.1": "the Jet model: patches, affine couplings with a ViT conditioner, scale sigmoid(s)·m, m = 2",
    "§2.2": "the objective: change of variables, bits per dimension, uniform dequantization",
    "§2.3": "the closed-form inverse and sampling",
    "§2.4": "initialisation: a zero final projection makes every coupling the identity",
    "§2.5": "dimension splitting: channel and spatial kinds, 0/1 matrices, full-precision split/merge",
    "§3": "experiments: the shared setup (AdamW, β2, cosine schedule, 256 patches, the datasets)",
    "§3.1": "main results: the capacity sweep, the recipe, overfitting, ImageNet-21k and fine-tuning",
    "§3.2": "ablations: the default ablation model and setting",
    "§3.2.1": "coupling types: the channel : spatial ratio and the spatial kinds",
    "§3.2.2": "number of couplings against ViT depth at a fixed compute",
    "§3.2.3": "ViT against CNN conditioners",
    "§3.2.4": "coupling implementation: pairing against masking",
    "§3.2.5": "invertible dense layers and activation normalization",
    "§3.2.6": "uniform dequantization against a dequantization flow",
    "§4": "related work",
    "§5": "conclusion",
    "§A.1": "architecture details of the main models (Table 3)",
    "§A.2": "comparison with Denseflow on Chrabaszcz et al.'s downsampled ImageNet (Table 4)",
    "§A.3": "detailed sweep results (Tables 5 to 10)",
}

FIGURES = {
    "Figure 1": "overview of the model: a stack of couplings, each a ViT predicting scale and bias",
    "Figure 2a": "CNN against ViT conditioners on ImageNet-1k 64×64, NLL against training compute",
    "Figure 2b": "ViT depths on ImageNet-21k 32×32, NLL against training compute",
    "Figure 3": "NLL against training compute for the capacity sweep on the four data sets",
    "Figure 4": "coupling types and channel : spatial ratios (numbers in Table 10)",
    "Figure 5": "random samples of Jet, Jet (I21k) and Flow++",
}

_SWEEP_DEPTHS = (1, 2, 3, 4, 5, 6)


def _sweep(name, caption, couplings, widths, values):
    """A sweep table: columns (couplings, width), rows the ViT (or CNN) depth."""
    columns = tuple((c, w) for c in couplings for w in widths[c])
    depths = _SWEEP_DEPTHS if len(values) == 6 else (1, 2, 3, 4, 5, 6, 8)
    return Table(name, "§A.3", caption, columns, dict(zip(depths, values)))


_IN1K = {16: (256, 512, 768), 32: (256, 512, 768), 64: (256, 512, 768)}
_IN21K = {32: (512, 768, 1024), 64: (512, 768, 1024), 128: (512, 768, 1024)}
NA = None

_TABLES = [
    # §3.1's prose gives the fine-tuned ImageNet-1k results as "3.58 and 3.86 on 32×32 and 64×64",
    # the resolutions swapped relative to Table 1 (3.580 is 64×64, 3.857 is 32×32). Table 1 is
    # taken as authoritative here. Trained from scratch at 32×32, Jet (3.931) is behind Flow++.
    # Jet from scratch on CIFAR-10 is not reported: the paper only fine-tunes there.
    Table("Table 1", "§3.1", "NLL of Jet and Flow++; ImageNet-1k as downsampled by van den Oord "
          "et al.; (I21k): pre-trained on ImageNet-21k, then fine-tuned",
          ("ImageNet-1k 64×64", "ImageNet-1k 32×32", "CIFAR-10"),
          {"Flow++": (3.69, 3.86, 3.08), "Jet": (3.656, 3.931, NA),
           "Jet (I21k)": (3.580, 3.857, 3.018)}),
    Table("Table 2a", "§3.2.4", "masking against pairing across channel : spatial ratios, ImageNet-1k 64×64",
          ("masking", "pairing"),
          {"all spatial": (3.844, 3.787), "1:1": (3.741, 3.737), "2:1": (3.727, 3.725),
           "3:1": (3.723, 3.723), "4:1": (3.722, 3.719), "5:1": (3.722, 3.720)}),
    Table("Table 2b", "§3.2.5", "ActNorm and invertible dense layers, ImageNet-1k 64×64",
          ("NLL",), {"neither": (3.720,), "ActNorm": (3.727,), "invertible dense": (3.741,),
                     "both": (3.733,)}),
    Table("Table 3", "§A.1", "architectures of the main models of Table 1",
          ("couplings", "ViT depth", "ViT width", "ViT heads"),
          {"ImageNet-1k 32×32": (64, 6, 256, 4), "ImageNet-1k 64×64": (64, 5, 512, 8),
           "ImageNet-21k 32×32": (64, 6, 768, 12), "ImageNet-21k 64×64": (64, 6, 1024, 16)}),
    Table("Table 4", "§A.2", "Jet against Denseflow on Chrabaszcz et al.'s downsampled ImageNet-1k "
          "(TFDS imagenet_resized)", ("32×32", "64×64"),
          {"Denseflow, with augmentation": (3.63, 3.35), "Jet, with augmentation": (3.638, 3.355),
           "Jet, no augmentation": (3.656, 3.382), "Jet (I21k), no augmentation": (3.573, 3.300)}),
    _sweep("Table 5", "ViT sweep, ImageNet-1k 32×32: columns (couplings, width), rows ViT depth",
           (16, 32, 64), _IN1K, [
               (4.32, 4.22, 4.18, 4.18, 4.11, 4.08, 4.12, 4.06, 4.04),
               (4.11, 4.04, 4.03, 4.03, 3.99, 4.01, 3.99, 3.97, 4.02),
               (4.05, 4.00, 4.03, 3.99, 3.97, 4.07, 3.96, 3.98, 4.11),
               (4.03, 3.99, 4.08, 3.97, 3.99, 4.15, 3.94, 4.03, 4.18),
               (4.01, 3.99, 4.14, 3.96, 4.01, 4.21, 3.93, 4.07, 4.28),
               (4.00, 4.00, 4.19, 3.95, 4.04, 4.34, 3.93, 4.12, NA)]),
    _sweep("Table 6", "ViT sweep, ImageNet-1k 64×64: columns (couplings, width), rows ViT depth",
           (16, 32, 64), _IN1K, [
               (4.02, 3.94, 3.90, 3.92, 3.84, 3.81, 3.85, 3.79, 3.77),
               (3.86, 3.78, 3.75, 3.78, 3.72, 3.70, 3.74, 3.69, 3.68),
               (3.81, 3.73, 3.71, 3.74, 3.69, 3.68, 3.70, 3.66, 3.69),
               (3.79, 3.71, 3.69, 3.72, 3.67, 3.68, 3.69, 3.66, 3.70),
               (3.77, 3.70, 3.69, 3.71, 3.66, 3.69, 3.67, 3.66, 3.73),
               (3.76, 3.69, 3.69, 3.70, 3.66, 3.70, 3.67, 3.66, 3.75)]),
    _sweep("Table 7", "CNN sweep, ImageNet-1k 64×64: columns (couplings, block width), rows CNN "
           "block depth", (16, 32, 64),
           {16: (256, 512, 768, 1024, 1536), 32: (256, 512, 768, 1024, 1536),
            64: (256, 512, 768, 1024)}, [
               (4.17, 4.05, 4.00, 3.96, 3.92, 4.05, 3.95, 3.91, 3.87, 3.83, 3.97, 3.88, 3.84, NA),
               (4.09, 3.97, NA, 3.87, 3.83, 3.98, 3.88, 3.83, 3.79, 3.76, 3.90, 3.81, 3.77, 3.75),
               (4.06, 3.94, 3.88, 3.84, 3.80, 3.95, 3.84, 3.79, 3.77, 3.74, 3.87, 3.78, 3.75, 3.73),
               (4.04, 3.91, 3.85, 3.82, 3.78, 3.93, 3.83, 3.78, 3.75, 3.74, 3.85, 3.76, 5.97, NA),
               (4.02, 3.90, 3.84, 3.81, 3.77, 3.91, 3.81, 3.77, 3.75, 3.74, 3.84, 3.76, 3.98, NA),
               (4.00, 3.88, 3.83, 3.80, 3.77, 3.90, 3.80, 3.76, 3.74, 3.74, 3.83, 3.89, 6.41, 3.77),
               (3.98, 3.87, 3.81, 3.78, 3.77, 3.88, 3.79, 3.75, 3.74, 3.75, 3.81, 3.74, 3.87, 5.89)]),
    _sweep("Table 8", "ViT sweep, ImageNet-21k 32×32: columns (couplings, width), rows ViT depth",
           (32, 64, 128), _IN21K, [
               (3.79, 3.76, 3.74, 3.74, 3.72, 3.70, 3.71, 3.69, 3.68),
               (3.65, 3.63, 3.62, 3.63, 3.61, 3.60, 3.61, 3.60, 3.59),
               (3.62, 3.59, 3.58, 3.59, 3.57, 3.56, 3.57, 3.56, NA),
               (3.59, 3.57, 3.57, 3.57, 3.55, NA, 3.55, NA, NA),
               (3.58, 3.56, 3.56, 3.55, 3.54, NA, 3.54, NA, NA),
               (3.57, 3.55, 3.54, 3.55, 3.53, NA, 3.55, NA, NA)]),
    _sweep("Table 9", "ViT sweep, ImageNet-21k 64×64: columns (couplings, width), rows ViT depth",
           (32, 64, 128), _IN21K, [
               (3.42, 3.39, 3.37, 3.37, 3.34, 3.34, 3.33, 3.31, 3.29),
               (3.29, 3.26, 3.24, 3.26, 3.23, 3.24, 3.23, 3.20, 3.19),
               (3.25, 3.22, 3.20, 3.22, 3.19, 3.21, 3.19, 3.16, NA),
               (3.23, 3.19, 3.17, 3.19, 3.16, 3.15, 3.16, 3.14, NA),
               (3.21, 3.18, 3.16, 3.18, 3.15, NA, 3.15, NA, NA),
               (3.20, 3.17, 3.15, 3.17, 3.14, 3.13, 3.14, NA, NA)]),
    # "all channel" has one number for every spatial kind (it uses none): repeated per column.
    Table("Table 10", "§3.2.1", "channel : spatial coupling ratio and spatial kind, ImageNet-1k 64×64",
          ("row-wise", "column-wise", "checkerboard", "mix of all"),
          {"all spatial": (3.877, 3.882, 3.872, 3.787), "1:1": (3.747, 3.742, 3.741, 3.737),
           "2:1": (3.735, 3.731, 3.731, 3.725), "3:1": (3.732, 3.729, 3.728, 3.723),
           "4:1": (3.731, 3.726, 3.724, 3.719), "5:1": (3.728, 3.726, 3.723, 3.720),
           "all channel": (3.742,) * 4}),
]
TABLES = {t.name: t for t in _TABLES}
# Table 1's three parts as the paper prints them, (a) to (c): one column of Table 1 each
for _i, (_part, _column) in enumerate(zip("abc", TABLES["Table 1"].columns)):
    TABLES[f"Table 1{_part}"] = Table(
        f"Table 1{_part}", "§3.1", f"NLL on {_column}", ("NLL",),
        {row: (values[_i],) for row, values in TABLES["Table 1"].rows.items()
         if values[_i] is not None})
del _i, _part, _column

_FINDINGS = [
    Finding("components_removed", "§1", "which components of earlier flows Jet keeps",
            "none of them: no multiscale architecture with early factored-out dimensions "
            "(RealNVP's squeeze-and-split, first in the list), no invertible dense layer, no "
            "ActNorm, no dequantization flow, no generalised coupling"),
    Finding("scale_range", "§2.1", "the range of a coupling's scale",
            "sigmoid(s) times a fixed m, always m = 2: scales in (0, 2)", {"m": 2}),
    Finding("objective", "§2.2", "what the reported number measures",
            "bits per dimension with every constant kept, uniform [0, 1) dequantization noise in "
            "training and in evaluation; a uniformly random model scores about 8",
            {"uniform_model_bpd": 8}),
    Finding("identity_at_init", "§2.4", "how the deep stack is initialised",
            "the ViT's final projection starts at zero: bias 0, scale sigmoid(0)·2 = 1, the "
            "whole flow is the identity, so no ActNorm is needed", {"scale_at_init": 1.0}),
    Finding("split_precision", "§2.5", "the precision of the split and merge products",
            "0/1 matrix products at full float32 precision; at reduced precision the uniform "
            "noise loses most of its entropy and the likelihood looks too good; the ViT keeps "
            "the fast default precision"),
    Finding("setup", "§3", "the setup shared by every experiment",
            "AdamW with β2 = 0.95 for stability, cosine decay, patch size chosen for 256 "
            "patches, no data augmentation", {"b2": 0.95, "tokens": 256}),
    Finding("capacity_sweep", "§3.1, Figure 3", "couplings, ViT depth and width",
            "about two orders of magnitude of compute; heads tied to the width",
            {"couplings_imagenet_1k": (16, 32, 64), "couplings_imagenet_21k": (32, 64, 128),
             "vit_depths": _SWEEP_DEPTHS, "widths_imagenet_1k": (256, 512, 768),
             "widths_imagenet_21k": (512, 768, 1024), "heads_imagenet_1k": (4, 8, 12),
             "heads_imagenet_21k": (8, 12, 16)}),
    Finding("recipe", "§3.1", "the training recipe",
            "one fixed recipe; epochs, not steps, and no batch size given",
            {"learning_rate": 3e-4, "weight_decay": 1e-5, "epochs_imagenet_1k": 200,
             "epochs_imagenet_21k": 50}),
    Finding("overfitting", "§3.1, Figure 3", "the amount of training data",
            "ImageNet-1k models overfit (most of all large models at 32×32); ImageNet-21k, more "
            "than ten times the images, tames it and larger models keep improving",
            {"imagenet_1k_images": 1.2e6, "imagenet_21k_times_more": 10}),
    Finding("fine_tuning", "§3.1, Table 1", "fine-tuning the ImageNet-21k models",
            "a light fine-tune beats Flow++ on all three data sets (at ImageNet-1k 32×32 by "
            "0.003), CIFAR-10 included, whose images and downsampling differ",
            {"imagenet_1k_epochs": 30, "imagenet_1k_lr_32": 1e-5, "imagenet_1k_lr_64": 3e-6,
             "cifar10_epochs": 100, "cifar10_lr": 3e-6, "cifar10_bpd": 3.02}),
    Finding("ablation_setting", "§3.2", "the model every ablation starts from",
            "ImageNet-1k 64×64, 200 epochs, 32 couplings, ViT depth 2, width 512",
            {"couplings": 32, "vit_depth": 2, "vit_width": 512, "epochs": 200}),
    Finding("coupling_ratio", "§3.2.1, Table 10, Figure 4",
            "M channel couplings per spatial one (M = 0..5, or channel only), spatial kind",
            "interleaving is best, M = 4 best but M in 2..5 very close; cycling the spatial "
            "kinds beats any single kind; spatial only is worst, channel only competitive",
            {"best_m": 4, "close_m": (2, 3, 4, 5), "best_bpd": 3.719, "all_channel_bpd": 3.742,
             "all_spatial_mixed_bpd": 3.787}),
    Finding("couplings_vs_depth", "§3.2.2, Tables 8 and 9, Figure 2b",
            "number of couplings against ViT depth at about the same compute",
            "many couplings with shallow ViTs (depth 1) trade compute badly; a ViT depth of "
            "4 to 6 keeps a model near the frontier: 32 couplings × depth 4 beat 128 × depth 1",
            {"min_depth": 4, "max_depth": 6, "deep": (32, 4), "shallow": (128, 1)}),
    Finding("vit_vs_cnn", "§3.2.3, Figure 2a, Table 7", "conditioner: ViT or CNN",
            "the CNN lags the ViT significantly at a given compute; the authors expect a "
            "multiscale architecture could narrow the gap, and leave it out",
            {"best_cnn_bpd": 3.73, "best_vit_bpd": 3.66}),
    Finding("pairing_vs_masking", "§3.2.4, Table 2a", "pairing or masking for spatial couplings",
            "pairing is slightly ahead, most of all with spatial couplings only; the gap "
            "shrinks as channel couplings (which do not depend on it) take over",
            {"all_spatial_masking": 3.844, "all_spatial_pairing": 3.787}),
    Finding("actnorm_dense", "§3.2.5, Table 2b", "adding ActNorm, invertible dense layers, both",
            "neither helps: the plain model is best; ActNorm alone was highly unstable (best "
            "of a sweep over learning rates and seeds)",
            {"neither": 3.720, "actnorm": 3.727, "dense": 3.741, "both": 3.733}),
    Finding("dequantization_flow", "§3.2.6", "uniform noise against a learned dequantization flow",
            "no significant improvement: a 64-coupling Jet with a 16-coupling dequantization "
            "flow against an 80-coupling Jet", {"jet_couplings": 64, "dequant_couplings": 16,
                                                "baseline_couplings": 80}),
    Finding("downsampled_versions", "§A.2, Table 4", "which downsampled ImageNet",
            "Chrabaszcz et al.'s version (TFDS imagenet_resized) is significantly easier than "
            "van den Oord et al.'s (TFDS downsampled_imagenet, Table 1); augmentation helps "
            "on ImageNet-1k, transfer from ImageNet-21k helps more",
            {"jet_32": 3.656, "jet_64": 3.382, "jet_i21k_32": 3.573, "jet_i21k_64": 3.300}),
]
FINDINGS = {f.key: f for f in _FINDINGS}

# What jetbook has that the paper does not: say so wherever the course uses them.
NOT_IN_PAPER = {
    "class conditioning": "the paper's models are unconditional; labels, guidance and Bayes' "
                          "rule classification are jetbook's extension",
    "warmup": "the paper names a cosine decay only (§3); the linear warmup is jetbook's",
    "gradient clipping": "not mentioned in the paper; jetbook clips the global norm",
    "steps and batch sizes": "the paper gives epochs (§3.1); the presets' steps and batches are jetbook's",
}


def _lookup(table: dict, key, what: str):
    if key not in table:
        raise ValueError(f"no {what} {key!r} in the Jet paper registry; known: {sorted(table)}")
    return table[key]


def finding(key: str) -> Finding:
    """The finding named `key` (see FINDINGS); ValueError for an unknown key."""
    return _lookup(FINDINGS, key, "finding")


def table(name: str) -> Table:
    """The paper's table `name`, e.g. "Table 2a"; ValueError for one the registry lacks."""
    return _lookup(TABLES, name, "table")


def section(name: str) -> str:
    """The one-line description of section `name`, e.g. "§3.2.1"; ValueError if unknown."""
    return _lookup(SECTIONS, name, "section")
