"""Deployment helpers: the SAM template, its offline transform, the Lambda package."""
