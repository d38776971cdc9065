"""pumpctl.report."""
