"""Prevention: learning from stored incidents — the nightly mining, recommendations' lifecycle, the digest."""
