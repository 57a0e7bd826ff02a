"""Verified flashing: signed checksums, bmaptool block maps, mapped-blocks-only writes with read-back, and the
provisioning bundle copied into the image's FAT boot partition without mounting it."""
