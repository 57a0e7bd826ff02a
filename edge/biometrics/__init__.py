"""Biometrics: capture-quality scoring and on-device matching, one subpackage per modality."""
