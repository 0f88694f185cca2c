"""The simulator's aiohttp server: the app and its middleware, the SQLite store, the qcog
routes and trainings, the embedded server a client starts, and the command line."""
