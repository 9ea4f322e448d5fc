"""Saving a view's plot as a picture: PNG (pixels) or SVG (vector, for papers)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6.QtWidgets import QApplication, QWidget

__all__ = ["EXPORT_FORMATS", "close_explicitly", "export_plot"]

EXPORT_FORMATS = {".png": "PNG image", ".svg": "SVG vector image"}


def _plot_item(widget: QWidget) -> pg.PlotItem | pg.GraphicsScene:
    """What to export: the view's ``export_item()`` (all its plots, without its controls)."""
    export_item = getattr(widget, "export_item", None)
    if callable(export_item):
        item = export_item()
        assert isinstance(item, pg.PlotItem | pg.GraphicsScene)
        return item
    if isinstance(widget, pg.PlotWidget):
        return widget.getPlotItem()
    if isinstance(widget, pg.GraphicsView):
        scene = widget.scene()
        assert isinstance(scene, pg.GraphicsScene)
        return scene
    raise TypeError(f"{type(widget).__name__} has no plot to export")


def export_plot(widget: QWidget, path: str | Path) -> Path:
    """Write the plot of ``widget`` (any plot view of :mod:`metagui.qt.views`, or a pyqtgraph
    widget) to ``path``; the suffix (``.png`` or ``.svg``) picks the format. Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ValueError(
            f"cannot export a plot as {suffix or 'a file without suffix'}: "
            f"use {' or '.join(EXPORT_FORMATS)}"
        )
    item = _plot_item(widget)
    QApplication.processEvents()  # the latest redraw laid out
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        exporter = ImageExporter(item)
        # Twice the screen size: sharp on slides and in papers.
        exporter.parameters()["width"] = max(2 * int(exporter.parameters()["width"]), 800)
        exporter.export(str(path))
    else:
        _write_svg(item, path)
    if not path.exists() or path.stat().st_size == 0:
        raise OSError(f"{path}: the plot could not be written")
    return path


def _write_svg(item: pg.PlotItem | pg.GraphicsScene, path: Path) -> None:
    """pyqtgraph's SVGExporter (per-item groups, clipped data), with its coordinate clean-up
    taught the closing ``Z`` command that Qt 6.12's SVG generator writes (it fails on it)."""
    module = sys.modules[SVGExporter.__module__]
    original = module.correctCoordinates

    def correct(node: Any, defs: Any, item: Any, options: Any) -> Any:
        for element in node.getElementsByTagName("path"):
            element.setAttribute("d", close_explicitly(element.getAttribute("d")))
        return original(node, defs, item, options)

    # Patched only for this export (the GUI thread is the only one exporting).
    setattr(module, "correctCoordinates", correct)  # noqa: B010
    try:
        SVGExporter(item).export(str(path))
    finally:
        setattr(module, "correctCoordinates", original)  # noqa: B010


def close_explicitly(d: str) -> str:
    """An SVG path's ``Z`` (close) commands as lines back to the subpath's start: the
    ``X,Y`` tokens pyqtgraph's clean-up can read. ``M0,0 L1,0 L1,1 Z`` -> ``... L0,0``."""
    tokens = d.split()
    if "Z" not in tokens and "z" not in tokens:
        return d
    out: list[str] = []
    start: str | None = None
    for token in tokens:
        if token in ("Z", "z"):
            if start is not None:
                out.append("L" + start)
            continue
        if token[0] in "Mm":
            start = token[1:]
        out.append(token)
    return " ".join(out)
