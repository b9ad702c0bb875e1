"""Entry point of the security plugin: the hook implementations health-monitor loads."""
