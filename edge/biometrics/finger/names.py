"""The ten fingers' names, as the post's policy and the events spell them."""

FINGERS = (
    "right_thumb", "right_index", "right_middle", "right_ring", "right_little",
    "left_thumb", "left_index", "left_middle", "left_ring", "left_little",
)
