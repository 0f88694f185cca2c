"""The federated-learning client: models, participants, updates and aggregates."""
