"""Where reports come from: AWS (organizations, sessions, the credential report, the collector) and files."""
