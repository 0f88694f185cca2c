"""Simulated federated learning: models with aggregation rules, client updates, aggregates
and validation scores, and the routes the public fma-connect client calls."""
