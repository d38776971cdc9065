"""The counterfactual faults the model can build (a leaf module: the command line lists them
without importing the model)."""

from __future__ import annotations

from enum import StrEnum


class Counterfactual(StrEnum):
    """A continuous-exposure fault left unchecked, built in the model (never in the daemon)."""

    RUNAWAY = "runaway"
    SLOW_PULSE = "slow-pulse"
    CONTINUOUS = "continuous"

    def describe(self, from_min: float, slow_pulse_min: float) -> str:
        at = f"from {from_min / 60:.1f} h"
        return {
            Counterfactual.RUNAWAY: f"runaway left running until the syringe is empty, {at}",
            Counterfactual.SLOW_PULSE: f"every pulse infused over {slow_pulse_min:g} min, {at}",
            Counterfactual.CONTINUOUS: f"the same drug as a continuous infusion, {at}",
        }[self]
