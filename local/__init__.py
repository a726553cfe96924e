"""The embedded local stack: moto's server for DynamoDB and S3, and a local Lambda service.

`baton.local.stack.LocalStack` starts both on free loopback ports; the Lambda service really runs
`baton.handler.app.lambda_handler` in sandbox processes, with deadlines that kill, async retries,
a dead-letter record, reserved concurrency and fault injection. See docs/local-stack.md.

- `lambda_service/`: the local Lambda service (its HTTP API, event queue, sandboxes, faults);
- `aws_server/`: moto's server for DynamoDB and S3, and the proxies in front of it;
- `demo/`: `baton demo` and the sample inputs and actions it uses;
- `stack.py` assembles the two services, `local_watchdog.py` restarts a stalled chain on them,
  `processes.py` is what every child process of the stack does.

This package's `__init__` imports nothing, so the stack's child processes start fast.
"""
