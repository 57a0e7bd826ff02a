"""Traveller history at the post (issue 18 item 7): see edge.history.index."""
