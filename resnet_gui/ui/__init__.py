"""The Qt app: thin views over the engine. Only this package imports PySide6 / pyqtgraph."""
