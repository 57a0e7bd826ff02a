"""The lane: one application layer that owns a crossing end to end.

Devices, the session state machine, the steps (document -> chip -> face -> fingers -> checks -> decision),
the document portrait, recording and the officer queue. `borderpost station` (auto mode) and the kiosk,
booth and technician UIs all drive it; the UIs never touch a device.
"""
