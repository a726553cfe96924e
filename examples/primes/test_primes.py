"""The example task on baton's local stack: `pytest examples/primes` (no AWS account needed).

The local stack runs real worker processes with a 2-second function timeout, so the job hops
many times; some events are delivered twice and some workers are killed on the way.
"""

import sys
from pathlib import Path

from baton.handler.launch import launch, prepare
from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.records import JobStatus

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `baton start` validates with your code: it must import it


def test_count_primes_below_200_000_through_kills_and_duplicates() -> None:
    faults = FaultConfig(duplicate=Fault(0.2, seed=1), kill=Fault(0.1, seed=2))
    with LocalStack(
        function=FunctionConfig(timeout_ms=2_000),
        faults=faults,
        min_margin_ms=800,
        checkpoint_s=1,
        task_modules=("primes_task",),  # BATON_TASK_MODULES
        code_paths=(HERE,),  # baton up --code-path examples/primes
        log_level="WARNING",
    ) as stack:
        spec = prepare(
            "count-primes",
            {"limit": 200_000, "chunk": 200},
            action_modules=(),
            task_modules=("primes_task",),
            now_ms=stack.store.clock.now_ms(),
        )
        job = launch(stack.store, stack.client("lambda"), stack.function.name, spec).job
        done = stack.wait_for_job(
            job.job_id, lambda j: j.status.terminal, timeout_s=300, on_poll=LocalWatchdog(stack)
        )
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == {"numbers": 200_000, "primes": 17_984}
    assert done.summary == {"largest_prime": 199_999}
