"""The matching.* message kinds arriving from a peer (registered below)."""
