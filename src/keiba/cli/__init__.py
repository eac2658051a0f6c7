"""The `keiba` command line."""
