"""The embedded local stack: moto's server for DynamoDB and S3, and a local Lambda service.

`baton.local.stack.LocalStack` starts both on free loopback ports; the Lambda service really runs
`baton.handler.app.lambda_handler` in worker processes, with deadlines that kill, async retries, a
dead-letter record, reserved concurrency and fault injection. See docs/local-stack.md.

This package's `__init__` imports nothing, so the stack's child processes start fast.
"""
