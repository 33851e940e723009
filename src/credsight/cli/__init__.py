"""The command line: `credsight` (app.py) and one module per command or command group."""
