"""The app icon (resnet_gui/assets/icon.png) is on the main window and the application."""

from __future__ import annotations


def test_window_and_app_have_the_icon(qtbot, window):
    from resnet_gui.ui.app import create_app

    assert not window.windowIcon().isNull()
    assert window.windowIcon().availableSizes()[0].width() == 256
    app = create_app()
    assert not app.windowIcon().isNull() and app.desktopFileName() == "resnet-gui"
