"""The contract between the client and the simulator's server: the parameter schema, data
checks, wire encodings, Braket and federated shapes, SigV4 signing. No server, no engine."""
