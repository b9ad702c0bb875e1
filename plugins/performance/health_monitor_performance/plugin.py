"""Entry point of the performance plugin: the hook implementations health-monitor loads."""
