"""A/B system updates of the appliance with RAUC: install a signed bundle into the other slot (rauc.py), fetch
one named by the agency over the device's mutual-TLS identity (fetch.py), and run the agency's signed `update`
command in the background of the uplink (job.py). Alert lists and models are updated separately (edge.alerts,
`borderpost models`), never by a system bundle."""
