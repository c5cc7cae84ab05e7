"""Explorers of the building blocks (notebooks 01 to 04): a 1-D bijection, one coupling,
a 2-D toy flow step by step, and which pixels a split sends to each half."""
from __future__ import annotations

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from jetbook.fields import check_int
from jetbook.flows import splits
from jetbook.flows.config import JetConfig
from jetbook.flows.coupling import affine_forward
from jetbook.flows.jet import Jet
from jetbook.teaching import plots, toys
from jetbook.teaching.widgets.figure import FigureWidget, single_image, slider


class BijectionExplorer(FigureWidget):
    """Drag the two parameters of y = sinh(rate * x + offset), x ~ N(0, 1), and watch the
    density of y and the Jacobian factor |dx/dy| change together.

    Both panels share the y axis: the density is p_x(f^-1(y)) * |dx/dy| (the formula, over a
    histogram of pushed samples), and the factor below it is where f squeezes (> 1) or
    stretches (< 1) the line.
    """

    def __init__(self, *, rate: float = 1.0, offset: float = 0.5, n: int = 20_000,
                 y_range=(-6.0, 6.0), seed: int = 0):
        check_int("n", n)
        if len(y_range) != 2 or not y_range[0] < y_range[1]:
            raise ValueError(f"y_range must be (low, high) with low < high, got {y_range!r}")
        self.rate = slider("rate", rate, 0.25, 2.5, 0.05)
        self.offset = slider("offset", offset, -2.0, 2.0, 0.1)
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


class CouplingExplorer(FigureWidget):
    """One affine coupling on a 2-D point cloud, with a linear conditioner you set by hand:
    x1 (the first coordinate) is kept and y2 = (x2 + b * x1) * sigmoid(s * x1) * m.

    Points are coloured by their log|det J| = log(sigmoid(s * x1) * m), computed by
    `jetbook.flows.coupling.affine_forward`: it depends on x1 alone, and b never changes it.
    """

    def __init__(self, points=None, *, b: float = 0.0, s: float = 0.0, m: float = 2.0,
                 lim: float = 4.0):
        if points is None:
            points = np.random.default_rng(0).standard_normal((600, 2))
        points = np.asarray(points, np.float32)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points must have shape (N, 2), got {points.shape}")
        self.points, self.lim = points, float(lim)
        self.b = slider("b", b, -2.0, 2.0, 0.1)
        self.s = slider("s", s, -3.0, 3.0, 0.1)
        self.m = slider("m", m, 0.5, 4.0, 0.1)
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


class FlowStepper(FigureWidget):
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


class SplitExplorer(FigureWidget):
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
        self.image = single_image(image, cfg.image_shape)
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
