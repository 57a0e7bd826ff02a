"""Alert lists at the post (issue 18): signed lists and deltas (bundle), applied atomically and sealed at rest
(db), matched by document key and by person names and birth date (match), checked in every crossing (check),
received over MQTT (sync). See docs/alerts.md."""
