"""Interactive explorers for the notebooks: ipywidgets controls that redraw a matplotlib figure.

Each explorer keeps its controls as attributes (so code and tests can drive them), its root
widget as `.widget` (displaying the explorer displays it), and after every redraw
`render_count`, `last_figure` (the matplotlib Figure), `last_png` (it as PNG bytes) and
`last_figure_data` (what it shows, in the library's own units). Figures are drawn off-screen
with the Agg renderer and shown as PNG bytes in an `ipywidgets.Image` (`.figure_image`); outside
a notebook nothing is displayed, but everything is still computed and recorded.

The controls and the Image behave the same under ipywidgets 7.7 (Colab's pin, the classic
Notebook) and 8 (JupyterLab), so there is no version branch here.
"""
from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping

import ipywidgets
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from matplotlib.figure import Figure

from jetbook import splits
from jetbook.conditioning import NO_LABEL
from jetbook.config import JetConfig
from jetbook.coupling import affine_forward
from jetbook.jet import Jet
from jetbook.likelihood import bin_centres
from jetbook.models import MODEL_KINDS
from jetbook.sampling import sample
from jetbook.teaching import plots, toys

FLOWS = tuple(model_class for _, model_class in MODEL_KINDS.values())


class _FigureWidget:
    """Shared plumbing: an Image that shows the latest figure, and what was last drawn.

    An Image, not an Output: an Image is a plain model with its bytes synced from the kernel,
    drawn the same way by every frontend, while each frontend implements the Output widget on
    its own (widgetsnbextension 3.6.10, for the classic Notebook, cannot create one at all).
    It stays hidden until the first figure, so a plot with nothing drawn yet is not a broken
    image, and keeps its own size: a box stretches its children, which would blur the PNG."""

    def __init__(self, controls):
        self.figure_image = ipywidgets.Image(
            format="png", layout=ipywidgets.Layout(display="none", align_self="flex-start"))
        self.widget = ipywidgets.VBox(list(controls) + [self.figure_image])
        self.render_count = 0
        self.last_figure: Figure | None = None
        self.last_png: bytes | None = None
        self.last_figure_data = None

    def _ipython_display_(self):
        """Hand the root widget to IPython, which uses whatever display hook the installed
        ipywidgets has (7.x only `_ipython_display_`, 8 only `_repr_mimebundle_`)."""
        from IPython.display import display

        display(self.widget)

    def _show(self, fig: Figure, data) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        self.last_figure, self.last_png = fig, buffer.getvalue()
        self.last_figure_data = data
        self.render_count += 1
        self.figure_image.value = self.last_png
        self.figure_image.layout.display = None


def _single_image(image, shape, name="image") -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (or (1, *shape)), got {a.shape}")
    return a


def _to_model_space(image, levels: int) -> np.ndarray:
    """Integers -> the centre of their dequantisation bin; floats are already model space."""
    a = np.asarray(image)
    if np.issubdtype(a.dtype, np.integer):
        return np.asarray(bin_centres(a, levels))
    return a.astype(np.float32)


# a label longer than the default width (80 px in ipywidgets 7 and 8) is cut to "temperat..."
_WIDE_LABEL = {"description_width": "initial"}


def _slider(description: str, value, low: float, high: float, step: float) -> ipywidgets.FloatSlider:
    """A slider that redraws on release; a start value outside its range is an error, not clamped."""
    if not low <= value <= high:
        raise ValueError(f"{description} must be in [{low}, {high}], got {value!r}")
    return ipywidgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                  continuous_update=False)


class BijectionExplorer(_FigureWidget):
    """Drag the two parameters of y = sinh(rate * x + offset), x ~ N(0, 1), and watch the
    density of y and the Jacobian factor |dx/dy| change together.

    Both panels share the y axis: the density is p_x(f^-1(y)) * |dx/dy| (the formula, over a
    histogram of pushed samples), and the factor below it is where f squeezes (> 1) or
    stretches (< 1) the line.
    """

    def __init__(self, *, rate: float = 1.0, offset: float = 0.5, n: int = 20_000,
                 y_range=(-6.0, 6.0), seed: int = 0):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if len(y_range) != 2 or not y_range[0] < y_range[1]:
            raise ValueError(f"y_range must be (low, high) with low < high, got {y_range!r}")
        self.rate = _slider("rate", rate, 0.25, 2.5, 0.05)
        self.offset = _slider("offset", offset, -2.0, 2.0, 0.1)
        super().__init__([ipywidgets.HBox([self.rate, self.offset])])
        self.x_samples = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
        self.y_grid = np.linspace(*y_range, 481, dtype=np.float32)
        for control in (self.rate, self.offset):
            control.observe(lambda change: self.render(), names="value")
        self.render()

    @property
    def bijection(self) -> toys.SinhMap1D:
        return toys.SinhMap1D(rate=float(self.rate.value), offset=float(self.offset.value))

    def render(self) -> None:
        f, y = self.bijection, self.y_grid
        x = f.inverse(y)
        log_jacobian = np.asarray(-f.log_abs_derivative(x))                 # log|dx/dy|
        log_density = np.asarray(toys.normal_log_prob(x) + log_jacobian)   # log p_y(y)
        fig = Figure(figsize=(7.5, 5.0))
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        counts, edges = np.histogram(np.asarray(f.forward(self.x_samples)), bins=96, range=(y[0], y[-1]))
        top.stairs(counts / (len(self.x_samples) * (edges[1] - edges[0])), edges, fill=True,
                   color="0.8", label="samples of f(x)")   # per all samples, also those off-screen
        top.plot(y, np.exp(log_density), color=plots.X1_COLOR, lw=2, label="p_x(f⁻¹(y)) · |dx/dy|")
        top.plot(y, np.exp(np.asarray(toys.normal_log_prob(x))), "--", color=plots.X2_COLOR,
                 lw=1, label="p_x(f⁻¹(y)) alone")
        top.set_ylim(0, 1.0)
        top.set_ylabel("density of y")
        top.set_title(f"y = sinh({f.rate:.2f} x + {f.offset:.1f})")
        top.legend(frameon=False, fontsize=8)
        bottom.semilogy(y, np.exp(log_jacobian), color="k")
        bottom.axhline(1.0, color="0.6", lw=0.8, ls=":")
        bottom.set_ylabel("|dx/dy|  (1-D Jacobian)")
        bottom.set_xlabel("y")
        self._show(fig, {"y": y, "log_density": log_density, "log_jacobian": log_jacobian})


class CouplingExplorer(_FigureWidget):
    """One affine coupling on a 2-D point cloud, with a linear conditioner you set by hand:
    x1 (the first coordinate) is kept and y2 = (x2 + b * x1) * sigmoid(s * x1) * m.

    Points are coloured by their log|det J| = log(sigmoid(s * x1) * m), computed by
    `jetbook.coupling.affine_forward`: it depends on x1 alone, and b never changes it.
    """

    def __init__(self, points=None, *, b: float = 0.0, s: float = 0.0, m: float = 2.0,
                 lim: float = 4.0):
        if points is None:
            points = np.random.default_rng(0).standard_normal((600, 2))
        points = np.asarray(points, np.float32)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points must have shape (N, 2), got {points.shape}")
        self.points, self.lim = points, float(lim)
        self.b = _slider("b", b, -2.0, 2.0, 0.1)
        self.s = _slider("s", s, -3.0, 3.0, 0.1)
        self.m = _slider("m", m, 0.5, 4.0, 0.1)
        super().__init__([ipywidgets.HBox([self.b, self.s, self.m])])
        for control in (self.b, self.s, self.m):
            control.observe(lambda change: self.render(), names="value")
        self.render()

    def render(self) -> None:
        b, s, m = (float(c.value) for c in (self.b, self.s, self.m))
        x1, x2 = self.points[:, :1], self.points[:, 1:]
        y2, logdet = affine_forward(x2, b * x1, s * x1, m)
        y, logdet = np.concatenate([x1, np.asarray(y2)], -1), np.asarray(logdet)
        fig = Figure(figsize=(9.6, 4.2))
        axes = fig.subplots(1, 2)
        axes[0].scatter(*self.points.T, s=4, color="0.5")
        axes[0].set_title("x  (x1 across, x2 up)")
        dots = axes[1].scatter(*y.T, s=4, c=logdet, cmap="RdBu_r", vmin=-2.5, vmax=2.5)
        axes[1].set_title(f"y: b(x1) = {b:.1f}·x1, s(x1) = {s:.1f}·x1, m = {m:.1f}\n"
                          f"mean log|det J| = {logdet.mean():+.3f}", fontsize=9)
        fig.colorbar(dots, ax=axes[1], label="log|det J| of each point")
        for ax in axes:
            ax.set(xlim=(-self.lim, self.lim), ylim=(-self.lim, self.lim), aspect="equal")
        self._show(fig, {"x": self.points, "y": y, "logdet": logdet})


class FlowStepper(_FigureWidget):
    """Step a 2-D toy flow (`toys.ToyFlow`) one coupling at a time: a grid of x-space lines
    and the data, after coupling k, beside the histogram of each coordinate against N(0, 1).

    The whole path is computed once (`flow.forward_path`); the slider and the two buttons only
    choose which depth to draw.
    """

    def __init__(self, flow, points, *, lim: float = 4.0, num_lines: int = 16):
        if not isinstance(flow, toys.ToyFlow):
            raise ValueError(f"flow must be a jetbook.teaching.toys.ToyFlow, got {type(flow).__name__}")
        points = np.asarray(points, np.float32)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points must have shape (N, 2), got {points.shape}")
        self.flow, self.points, self.lim = flow, points, float(lim)
        # 2 * num_lines lines of 128 points on [-3, 3]^2: with 16 lines that is 4096 points, the
        # batch size notebook 03 already traced, so the eager flow reuses its compiled ops
        t = np.linspace(-3.0, 3.0, 128, dtype=np.float32)
        levels = np.linspace(-3.0, 3.0, num_lines, dtype=np.float32)
        lines = [np.stack([t, np.full_like(t, c)], -1) for c in levels] + \
                [np.stack([np.full_like(t, c), t], -1) for c in levels]
        self.path = np.asarray(flow.forward_path(points))                      # (K+1, N, 2)
        self.line_path = np.asarray(flow.forward_path(np.concatenate(lines))).reshape(
            -1, len(lines), len(t), 2)                                            # (K+1, L, T, 2)
        k_max = flow.num_couplings
        self.depth = ipywidgets.IntSlider(value=0, min=0, max=k_max, description="depth",
                                          continuous_update=False)
        self.back = ipywidgets.Button(description="◀ back")
        self.step = ipywidgets.Button(description="step ▶")
        super().__init__([ipywidgets.HBox([self.depth, self.back, self.step])])
        self.back.on_click(lambda button: setattr(self.depth, "value", max(0, self.depth.value - 1)))
        self.step.on_click(lambda button: setattr(self.depth, "value", min(k_max, self.depth.value + 1)))
        self.depth.observe(lambda change: self.render(), names="value")
        self.render()

    def render(self) -> None:
        k = self.depth.value
        pts = self.path[k]
        fig = Figure(figsize=(9.6, 4.2))
        axes = fig.subplots(1, 2)
        for line in self.line_path[k]:
            axes[0].plot(line[:, 0], line[:, 1], color="0.7", lw=0.5)
        axes[0].scatter(*pts.T, s=2, c=self.points[:, 0], cmap="coolwarm")
        moved = "" if k == 0 else f": coordinate {2 - (k - 1) % 2} moved, given the other"  # coupling k-1 keeps (k-1) % 2
        axes[0].set_title(("data x" if k == 0 else f"after coupling {k}") + moved, fontsize=9)
        axes[0].set(xlim=(-self.lim, self.lim), ylim=(-self.lim, self.lim), aspect="equal")
        grid = np.linspace(-self.lim, self.lim, 200)
        for i, color in ((0, plots.X1_COLOR), (1, plots.X2_COLOR)):
            axes[1].hist(pts[:, i], bins=50, range=(-self.lim, self.lim), density=True,
                         color=color, alpha=0.5, label=f"coordinate {i + 1}")
        axes[1].plot(grid, np.exp(np.asarray(toys.normal_log_prob(grid))), "k--", lw=1, label="N(0,1)")
        std = pts.std(0)
        axes[1].set_title(f"std of the coordinates: {std[0]:.2f}, {std[1]:.2f}", fontsize=9)
        axes[1].legend(frameon=False, fontsize=8)
        self._show(fig, pts)


class SplitExplorer(_FigureWidget):
    """Which pixels form x1 and x2: pick a coupling (slider) or any split kind (dropdown).

    Channel permutations come from the config (`split_seed`), so they are exactly the ones a
    model built from it uses.
    """

    def __init__(self, model_or_config, image, *, levels: int | None = None):
        if isinstance(model_or_config, Jet):
            cfg = model_or_config.config
        elif isinstance(model_or_config, JetConfig):
            cfg = model_or_config
        else:
            raise ValueError("model_or_config must be a jetbook Jet or JetConfig, got "
                             f"{type(model_or_config).__name__}")
        self.config = cfg
        self.image = _single_image(image, cfg.image_shape)
        self.levels = levels
        kinds = cfg.coupling_kinds
        self.coupling = ipywidgets.IntSlider(value=0, min=0, max=len(kinds) - 1,
                                             description="coupling", continuous_update=False)
        self.kind = ipywidgets.Dropdown(options=list(splits.SPLIT_KINDS), value=kinds[0],
                                        description="split kind")
        super().__init__([ipywidgets.HBox([self.coupling, self.kind])])
        self.mask: np.ndarray | None = None
        self._syncing = False
        self.coupling.observe(self._on_coupling, names="value")
        self.kind.observe(self._on_kind, names="value")
        self.render()

    def channel_matrix(self) -> np.ndarray:
        """The channel split a coupling at this index uses (the model's own, for channel ones)."""
        return self.config.split_matrix(self.coupling.value, "channel")

    def _on_coupling(self, change) -> None:
        self._syncing = True
        try:
            self.kind.value = self.config.coupling_kinds[change["new"]]
        finally:
            self._syncing = False
        self.render()

    def _on_kind(self, change) -> None:
        if not self._syncing:
            self.render()

    def render(self) -> None:
        cfg, kind, i = self.config, self.kind.value, self.coupling.value
        matrix = self.channel_matrix() if kind == "channel" else None
        self.mask = plots.split_pixel_mask(kind, cfg.image_shape, cfg.patch_size, matrix)
        own = cfg.coupling_kinds[i]
        title = (f"coupling {i}: {kind}" if kind == own
                 else f"{kind}\n(coupling {i} is {own})")
        fig = Figure(figsize=(9.6, 3.4))
        axes = fig.subplots(1, 3)
        frac = plots.show_split(self.image, kind, cfg.patch_size, matrix=matrix, levels=self.levels,
                                ax=axes[0], title=title)
        unit = plots.to_unit_range(self.image, self.levels)
        for ax, keep, name in ((axes[1], self.mask, "x1: what the ViT sees"),
                               (axes[2], ~self.mask, "x2: what gets scaled and shifted")):
            plots.show_image(ax, np.where(keep, unit, 0.5), interpolation="nearest")
            ax.set_title(name)
            ax.set_axis_off()
        self._show(fig, frac)


class LatentExplorer(_FigureWidget):
    """An image on its way through the flow: a slider over depth shows the latent after each
    coupling (`Jet.forward_path`), next to a histogram of its values against N(0, 1).

    Every depth is drawn on one colour scale and one histogram range (the largest |value| on
    the whole path), so the change of scale from pixels in [-1, 1] to a unit Gaussian shows.
    """

    def __init__(self, model, image, *, levels: int = 256):
        if not isinstance(model, Jet):
            raise ValueError(f"model must be a jetbook Jet, got {type(model).__name__}")
        cfg = model.config
        self.model, self.levels = model, levels
        self.image = _to_model_space(_single_image(image, cfg.image_shape), levels)
        self.path = np.asarray(model.forward_path(jnp.asarray(self.image)[None]))[:, 0]   # (N+1, H, W, C)
        self.peak = max(float(np.abs(self.path).max()), 1e-6)
        self.depth = ipywidgets.IntSlider(value=0, min=0, max=cfg.num_couplings, description="depth",
                                          continuous_update=False)
        super().__init__([self.depth])
        self.depth.observe(lambda change: self.render(), names="value")
        self.render()

    def render(self) -> None:
        k, kinds = self.depth.value, self.model.config.coupling_kinds
        z = self.path[k]
        fig = Figure(figsize=(9.6, 3.2))
        axes = fig.subplots(1, 3)
        plots.show_image(axes[0], plots.to_unit_range(self.image), interpolation="nearest")
        axes[0].set_title("input x")
        plots.show_image(axes[1], plots.to_unit_range(z / self.peak), interpolation="nearest")
        axes[1].set_title(("input (depth 0)" if k == 0 else f"after coupling {k} ({kinds[k - 1]})")
                          + f"\ngrey scale: ±{self.peak:.2f} at every depth", fontsize=9)
        for ax in axes[:2]:
            ax.set_axis_off()
        axes[2].hist(z.ravel(), bins=40, range=(-self.peak, self.peak), density=True,
                     color=plots.X1_COLOR, alpha=0.7)
        grid = np.linspace(-self.peak, self.peak, 200)
        axes[2].plot(grid, np.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi), "k--", lw=1, label="N(0,1)")
        axes[2].set_xlim(-self.peak, self.peak)
        axes[2].set_title(f"values: std {z.std():.2f}")
        axes[2].legend(frameon=False)
        self._show(fig, z)


class SampleExplorer(_FigureWidget):
    """Samples `jb.sample(model, key(seed), n, temperature)` of any flow (Jet, TarFlow; a
    class-conditional one draws with no label): a temperature slider, a seed field and a
    button for a new seed. Only the first draw compiles: `jb.sample` reuses the model's
    compiled inverse for the same n, and the temperature is traced."""

    def __init__(self, model, levels: int = 256, *, n: int = 16, ncols: int | None = None,
                 temperature: float = 1.0, seed: int = 0):
        if not isinstance(model, FLOWS):
            raise ValueError(f"model must be a jetbook flow ({' or '.join(c.__name__ for c in FLOWS)}), "
                             f"got {type(model).__name__}")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        self.model, self.levels, self.n, self.ncols = model, levels, n, ncols
        self.temperature = ipywidgets.FloatSlider(value=temperature, min=0.0, max=1.5, step=0.05,
                                                  description="temperature", continuous_update=False,
                                                  style=_WIDE_LABEL)
        self.seed = ipywidgets.IntText(value=seed, description="seed")
        self.regenerate = ipywidgets.Button(description="new samples")
        super().__init__([ipywidgets.HBox([self.temperature, self.seed, self.regenerate])])
        self.samples: np.ndarray | None = None
        self.temperature.observe(lambda change: self.render(), names="value")
        self.seed.observe(lambda change: self.render(), names="value")
        self.regenerate.on_click(lambda button: setattr(self.seed, "value", self.seed.value + 1))
        self.render()

    def render(self) -> None:
        t = float(self.temperature.value)
        key = jax.random.key(int(self.seed.value))
        labels = NO_LABEL if self.model.config.num_classes else None
        self.samples = np.asarray(sample(self.model, key, self.n, t, labels=labels))
        fig = Figure(figsize=(4.5, 4.8))
        ax = fig.subplots()
        plots.image_grid(self.samples, self.levels, self.ncols, ax=ax,
                         title=f"T = {t:.2f}, seed {self.seed.value}")
        self._show(fig, self.samples)


class GuidanceExplorer(_FigureWidget):
    """Class-conditional samples `jb.sample(model, key(seed), n, temperature, labels=digit,
    guidance=w)`: pick the class, the guidance weight and the temperature. Works for any
    conditional Jet or TarFlow; the inverse is compiled once, whatever the controls say."""

    def __init__(self, model, levels: int = 256, *, n: int = 16, ncols: int | None = None,
                 label: int = 0, guidance: float = 0.0, temperature: float = 1.0, seed: int = 0):
        classes = getattr(getattr(model, "config", None), "num_classes", 0)
        if not classes:
            raise ValueError("model must be a class-conditional Jet or TarFlow (num_classes > 0)")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        self.model, self.levels, self.n, self.ncols = model, levels, n, ncols
        self.label = ipywidgets.Dropdown(options=list(range(classes)), value=label,
                                         description="class")
        self.guidance = ipywidgets.FloatSlider(value=guidance, min=0.0, max=5.0, step=0.25,
                                               description="guidance", continuous_update=False)
        self.temperature = ipywidgets.FloatSlider(value=temperature, min=0.0, max=1.5, step=0.05,
                                                  description="temperature", continuous_update=False,
                                                  style=_WIDE_LABEL)
        self.seed = ipywidgets.IntText(value=seed, description="seed")
        super().__init__([ipywidgets.HBox([self.label, self.guidance]),
                          ipywidgets.HBox([self.temperature, self.seed])])
        self.samples: np.ndarray | None = None
        for control in (self.label, self.guidance, self.temperature, self.seed):
            control.observe(lambda change: self.render(), names="value")
        self.render()

    def render(self) -> None:
        label, w, t = int(self.label.value), float(self.guidance.value), float(self.temperature.value)
        self.samples = np.asarray(sample(self.model, jax.random.key(int(self.seed.value)), self.n, t,
                                         labels=label, guidance=w))
        fig = Figure(figsize=(4.5, 4.8))
        plots.image_grid(self.samples, self.levels, self.ncols, ax=fig.subplots(),
                         title=f"class {label}, guidance {w:g}, T = {t:.2f}")
        self._show(fig, self.samples)


class LiveTrainingPlot(_FigureWidget):
    """Train and test bits/dim against step, redrawn as training reports.

    Use `plot.update(step, train_bpd=..., test_bpd=...)`, or pass the plot itself as a
    training callback: `plot(record)` with record keys `step`, `train_bpd`, `test_bpd`
    (either bpd may be missing). `history` keeps every (step, value) pair.
    """

    def __init__(self, *, title: str = "bits per dimension", min_interval_s: float = 0.0):
        if not min_interval_s >= 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s!r}")
        self.title, self.min_interval_s = title, float(min_interval_s)
        self.history: dict[str, list[tuple[int, float]]] = {"train_bpd": [], "test_bpd": []}
        self._last_draw = -math.inf
        super().__init__([])

    def update(self, step, train_bpd=None, test_bpd=None) -> None:
        try:
            step = int(step)
        except (TypeError, ValueError):
            raise ValueError(f"step must be an integer, got {step!r}") from None
        for name, value in (("train_bpd", train_bpd), ("test_bpd", test_bpd)):
            if value is not None:
                self.history[name].append((step, float(value)))
        if test_bpd is not None or time.monotonic() - self._last_draw >= self.min_interval_s:
            self.draw()

    def __call__(self, record: Mapping) -> None:
        if not isinstance(record, Mapping) or "step" not in record:
            raise ValueError(f"record must be a dict with a 'step' key, got {record!r}")
        self.update(record["step"], record.get("train_bpd"), record.get("test_bpd"))

    def draw(self) -> None:
        """Redraw now (updates may be throttled by `min_interval_s`)."""
        self._last_draw = time.monotonic()
        data = {name: np.asarray(points, np.float64).reshape(-1, 2)
                for name, points in self.history.items()}
        fig = Figure(figsize=(6, 3.2))
        ax = fig.subplots()
        styles = {"train_bpd": dict(color=plots.X1_COLOR, lw=1.2, label="train"),
                  "test_bpd": dict(color=plots.X2_COLOR, marker="o", lw=1.5, label="test")}
        for name, points in data.items():
            if len(points):
                ax.plot(points[:, 0], points[:, 1], **styles[name])
        ax.set_xlabel("step")
        ax.set_ylabel("bits / dim")
        ax.set_title(self.title)
        ax.grid(alpha=0.3)
        if any(len(p) for p in data.values()):
            ax.legend(frameon=False)
        self._show(fig, data)
