"""The PySide6 desktop app: main window, live video overlay, pyqtgraph traces, transcript, status.

Nothing here is imported by the CLI until ``emolive run`` starts the GUI.
"""
