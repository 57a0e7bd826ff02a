"""One module per backend; each exports `BACKEND`. Listed and loaded by `drivers.registry`."""
