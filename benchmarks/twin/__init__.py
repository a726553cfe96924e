"""A virtual-time twin of S3, DynamoDB and Lambda that runs baton's own code at AWS scale.

keyspace.py        synthetic buckets: 100 million sorted keys from a spec, never stored
figures.py         every latency, limit and price, in one table with its source
scheduler.py       the virtual clock: cooperative threads ordered by when they wake
s3.py              ListObjectsV2 over the key spaces, per-prefix request rates, billing
dynamodb.py        moto's table plus latency, write units, per-partition throttling, sizes
lambda_service.py  the async queue, reserved concurrency, throttles, retries, cold starts,
                   the timeout's kill, GB-seconds
world.py           one world around baton's relay, tasks, store and watchdog
scenarios.py       the buckets and runs the suite and `make scale` share
scale.py           `python -m benchmarks.twin.scale`: docs/scale.md and its plots
"""
