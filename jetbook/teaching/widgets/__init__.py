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
from jetbook.teaching.widgets.building_blocks import (BijectionExplorer, CouplingExplorer,
                                                      FlowStepper, SplitExplorer)
from jetbook.teaching.widgets.figure import FigureWidget
from jetbook.teaching.widgets.trained_models import (GuidanceExplorer, LatentExplorer,
                                                     LiveTrainingPlot, SampleExplorer)

__all__ = ["BijectionExplorer", "CouplingExplorer", "FigureWidget", "FlowStepper",
           "GuidanceExplorer", "LatentExplorer", "LiveTrainingPlot", "SampleExplorer",
           "SplitExplorer"]
