"""The local Lambda service: the Lambda API over HTTP (`http_api`), the async event queue with
retries, dead letters, concurrency and faults (`service`, `faults`), and the sandbox processes
that run the handler (`sandbox_pool`, `sandbox`). The function's configuration is
`function_config.FunctionConfig`.

This `__init__` imports nothing: every sandbox process imports the package on its way to
`sandbox`, and should start fast.
"""
