"""The `baton` command for operators."""
