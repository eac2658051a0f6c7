"""The twin day's fixtures, shared by the release tests that play it."""

from .twin_release import prepared, prepared_home

__all__ = ["prepared", "prepared_home"]
