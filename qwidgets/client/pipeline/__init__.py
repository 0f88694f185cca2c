"""A pipeline of actions with events and states, and the training pipeline built on it."""
