"""Render packaging/emolive.svg to packaging/emolive.png (256x256) with Qt's SVG renderer.

Usage: QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icon.py [SIZE]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def render(svg: Path, png: Path, size: int = 256) -> None:
    """Write ``svg`` as a transparent ``size`` x ``size`` PNG."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icon: cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png), "PNG"):
        raise SystemExit(f"make_icon: cannot write {png}")


if __name__ == "__main__":
    render(HERE / "emolive.svg", HERE / "emolive.png", int(sys.argv[1]) if len(sys.argv) > 1 else 256)
