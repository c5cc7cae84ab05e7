"""The plumbing every explorer shares: controls above an Image that shows the latest figure."""
from __future__ import annotations

import io

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from jetbook.density.likelihood import bin_centres


class FigureWidget:
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


def single_image(image, shape, name="image") -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (or (1, *shape)), got {a.shape}")
    return a


def to_model_space(image, levels: int) -> np.ndarray:
    """Integers -> the centre of their dequantisation bin; floats are already model space."""
    a = np.asarray(image)
    if np.issubdtype(a.dtype, np.integer):
        return np.asarray(bin_centres(a, levels))
    return a.astype(np.float32)


# a label longer than the default width (80 px in ipywidgets 7 and 8) is cut to "temperat..."
WIDE_LABEL = {"description_width": "initial"}


def slider(description: str, value, low: float, high: float, step: float) -> ipywidgets.FloatSlider:
    """A slider that redraws on release; a start value outside its range is an error, not clamped."""
    if not low <= value <= high:
        raise ValueError(f"{description} must be in [{low}, {high}], got {value!r}")
    return ipywidgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                  continuous_update=False)
