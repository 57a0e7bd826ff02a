"""Web UIs served by the station: traveller kiosk, officer booth, technician console."""
