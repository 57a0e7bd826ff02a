"""borderpost core: documents, biometrics, events, store, uplink, station and CLI."""

__version__ = "0.1.0"
