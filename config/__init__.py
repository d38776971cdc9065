"""Example configurations (TOML); shipped as ``pumpctl.examples``, the default of the demo."""
