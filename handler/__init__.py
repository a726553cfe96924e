"""The Lambda side of baton: the entry point, the relay loop and the tasks it runs."""
