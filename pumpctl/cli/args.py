"""Argument types shared by the subcommands: each rejects a bad value with a clear message."""

from __future__ import annotations

import argparse


def positive_float(text: str) -> float:
    """A number > 0 (time scales, simulated days, minutes)."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1 inclusive (probabilities)."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value
