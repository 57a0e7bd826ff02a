"""Device drivers: one contract (`drivers.contract`), backends in `drivers.backends`, simulators in `drivers.sim`."""
