"""Provisioning: the per-appliance bundle (`provision new`), its validation, and first boot on the device."""

from edge.provision.bundle import Bundle, BundleError, load_bundle
from edge.provision.firstboot import FirstBootError, FirstBootResult, first_boot

__all__ = ["Bundle", "BundleError", "FirstBootError", "FirstBootResult", "first_boot", "load_bundle"]
