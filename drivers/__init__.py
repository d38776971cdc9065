"""Pump drivers: the ``PumpDriver`` contract, a registry of drivers, and the NE-1000 family."""
