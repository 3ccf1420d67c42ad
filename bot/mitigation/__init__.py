"""Mitigation: the action catalogue, approvals, and durable execution with validation and rollback."""
