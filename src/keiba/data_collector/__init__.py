"""Source clients, parsers, validation and idempotent loading into the data contract."""
