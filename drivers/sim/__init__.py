"""Device-side simulators that speak the real protocols (PTY bytes, pyusb transfers, image frames)."""
