"""mitigation."""
