"""The pure safety core: units, prescription, planner, safety gate, exposure model, clocks.

Nothing in this package performs I/O or imports another part of pumpctl; every decision is a
function of data and an injected clock, so it is tested without sleeping.
"""
