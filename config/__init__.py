"""Example configurations (TOML), shipped as ``pumpctl.examples`` so ``pumpctl demo`` has a default."""
