"""pumpctl: a controller for pulsatile gonadorelin delivery through a syringe pump.

Research software, not a cleared medical device.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
