"""What runs a task: its interface, the hop's work pool, and the registry and catalog of names."""
