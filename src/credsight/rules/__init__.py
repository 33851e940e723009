"""Rules over the snapshots: the catalogue, findings, exceptions, and changes between snapshots."""
