"""The embedded simulator: a numpy engine (no I/O) and, built on it, a loopback server."""
