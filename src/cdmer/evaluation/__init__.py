"""Evaluation: the cross-database protocol, metrics, reports and plots."""
