"""Fixtures shared by every test directory."""

from tests.builders import clock, limits, prescription

__all__ = ["clock", "limits", "prescription"]
