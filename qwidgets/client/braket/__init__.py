"""Braket clients: devices and their queues, quantum tasks, hybrid jobs, and the real Amazon
Braket through boto3 (``provider``, ``jobs_provider``)."""
