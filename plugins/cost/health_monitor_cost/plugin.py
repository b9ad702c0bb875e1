"""Entry point of the cost plugin: the hook implementations health-monitor loads."""
