"""resnet-gui: classify images with a ResNet by dropping them on a window; train your own from a folder."""

__version__ = "0.1.0"
