"""The agency side: receive, verify and store every post's events; count them; steer the fleet (docs/central.md).

Talks to the appliances only through MQTT and the published schemas; imports only the pure event and
signature code of `edge` (`edge.events`, `edge.identity.key_id`).
"""
