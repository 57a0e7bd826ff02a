"""The agency's side of MQTT: a broker configuration and ACL that hold each device to its own post and name."""
