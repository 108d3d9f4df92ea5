"""pytest fixtures for this area (filled in by its owner)."""
