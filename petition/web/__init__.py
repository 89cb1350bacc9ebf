"""HTTP layer: thin controllers grouped by audience."""
