"""Entry point of the reliability plugin: the hook implementations health-monitor loads."""
