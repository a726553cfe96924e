"""Tasks: small resumable units of work driven by the relay loop."""
