"""A test passport chip, written from Doc 9303 independently of `edge.chip` (no shared codec)."""
