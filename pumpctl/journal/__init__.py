"""pumpctl.journal."""
