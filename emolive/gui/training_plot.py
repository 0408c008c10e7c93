"""The fine-tune dialog's plot: the training loss and the validation metric per epoch."""

from __future__ import annotations

import pyqtgraph as pg


class TrainingPlot(pg.PlotWidget):
    """Train loss and validation score per epoch (one epoch shows as a dot)."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(200)
        self.getPlotItem().getViewBox().setDefaultPadding(0.08)  # the top tick label stays inside
        self.addLegend()
        self.setLabel("bottom", "epoch")
        self.loss_curve = self.plot([], [], pen=pg.mkPen("#ff7043", width=2), name="train loss",
                                    symbol="o", symbolSize=5, symbolBrush="#ff7043")
        self.score_curve = self.plot([], [], pen=pg.mkPen("#42a5f5", width=2), symbol="o", symbolSize=5,
                                     name="validation")

    def clear_run(self) -> None:
        self.loss_curve.setData([], [])
        self.score_curve.setData([], [])

    def show_run(self, losses: list[tuple[int, float]], scores: list[tuple[int, float]], monitor: str) -> None:
        """Draw the (epoch, value) pairs so far; ``monitor`` names the validation metric."""
        self.loss_curve.setData([e for e, _ in losses], [v for _, v in losses])
        self.score_curve.setData([e for e, _ in scores], [v for _, v in scores])
        # A title, not a rotated axis label: a long metric name no longer gets cut off at the plot's top.
        self.setTitle(f"train loss and validation {monitor.replace('_', ' ')} per epoch", size="9pt")
