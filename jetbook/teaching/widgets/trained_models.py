"""Explorers of trained models (notebooks 05 to 09): the latent path of an image, samples at a
temperature, class guidance, and a live plot of training."""
from __future__ import annotations

import math
import time
from collections.abc import Mapping

import ipywidgets
import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jetbook.density.sampling import sample
from jetbook.fields import check_int
from jetbook.flows.conditioning import NO_LABEL
from jetbook.flows.jet import Jet
from jetbook.flows.model_kinds import MODEL_KINDS
from jetbook.teaching import plots
from jetbook.teaching.widgets.figure import (WIDE_LABEL, FigureWidget, single_image,
                                            to_model_space)

FLOWS = tuple(model_class for _, model_class in MODEL_KINDS.values())


class LatentExplorer(FigureWidget):
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
        self.image = to_model_space(single_image(image, cfg.image_shape), levels)
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


class SampleExplorer(FigureWidget):
    """Samples `jb.sample(model, key(seed), n, temperature)` of any flow (Jet, TarFlow; a
    class-conditional one draws with no label): a temperature slider, a seed field and a
    button for a new seed. Only the first draw compiles: `jb.sample` reuses the model's
    compiled inverse for the same n, and the temperature is traced."""

    def __init__(self, model, levels: int = 256, *, n: int = 16, ncols: int | None = None,
                 temperature: float = 1.0, seed: int = 0):
        if not isinstance(model, FLOWS):
            raise ValueError(f"model must be a jetbook flow ({' or '.join(c.__name__ for c in FLOWS)}), "
                             f"got {type(model).__name__}")
        check_int("n", n)
        self.model, self.levels, self.n, self.ncols = model, levels, n, ncols
        self.temperature = ipywidgets.FloatSlider(value=temperature, min=0.0, max=1.5, step=0.05,
                                                  description="temperature", continuous_update=False,
                                                  style=WIDE_LABEL)
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


class GuidanceExplorer(FigureWidget):
    """Class-conditional samples `jb.sample(model, key(seed), n, temperature, labels=digit,
    guidance=w)`: pick the class, the guidance weight and the temperature. Works for any
    conditional Jet or TarFlow; the inverse is compiled once, whatever the controls say."""

    def __init__(self, model, levels: int = 256, *, n: int = 16, ncols: int | None = None,
                 label: int = 0, guidance: float = 0.0, temperature: float = 1.0, seed: int = 0):
        classes = getattr(getattr(model, "config", None), "num_classes", 0)
        if not classes:
            raise ValueError("model must be a class-conditional Jet or TarFlow (num_classes > 0)")
        check_int("n", n)
        self.model, self.levels, self.n, self.ncols = model, levels, n, ncols
        self.label = ipywidgets.Dropdown(options=list(range(classes)), value=label,
                                         description="class")
        self.guidance = ipywidgets.FloatSlider(value=guidance, min=0.0, max=5.0, step=0.25,
                                               description="guidance", continuous_update=False)
        self.temperature = ipywidgets.FloatSlider(value=temperature, min=0.0, max=1.5, step=0.05,
                                                  description="temperature", continuous_update=False,
                                                  style=WIDE_LABEL)
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


class LiveTrainingPlot(FigureWidget):
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
