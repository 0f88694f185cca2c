"""Simulated Amazon Braket: devices with live queues, state-vector tasks, hybrid jobs that
really train, and their SigV4-authenticated routes."""
