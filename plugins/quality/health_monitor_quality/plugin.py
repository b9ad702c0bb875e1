"""Entry point of the quality plugin: the hook implementations health-monitor loads."""
