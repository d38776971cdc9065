"""pumpctl.daemon."""
