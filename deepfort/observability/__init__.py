"""Logs, Prometheus metrics, the built-in alert evaluator and the log report."""
