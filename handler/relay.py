"""The relay loop: claim, step until the budget says yield, then hand off to the next epoch.

claim -> load state -> loop:
    if budget says yield (after at least one step): hand off, return
    step()
    if done: finish, return
    if checkpoint due: checkpoint (LeaseLost: return), honour cancel/pause
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from handler import faults
from handler.budget import TimeBudget
from handler.event import RelayEvent
from handler.invoker import SelfInvoker
from handler.observability import count, logger
from handler.runtime import Runtime
from handler.tasks.base import JobFailure, Resources, StepContext
from handler.tasks.registry import get_task
from store.errors import BatonError, InvalidJob, LeaseLost, StateCorrupt, StateTooLarge
from store.records import Claim, ClaimRejected, HopEnd, Job, JobStatus, Progress, RejectReason

# Errors that another attempt at the same cursor cannot fix.
PERMANENT_ERRORS = (JobFailure, InvalidJob, StateCorrupt, StateTooLarge)


class LambdaContext(Protocol):
    function_name: str
    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Outcome:
    """What one invocation did, returned to Lambda (visible in sync invokes and local logs)."""

    outcome: str
    job_id: str
    epoch: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "job_id": self.job_id,
            "epoch": self.epoch,
            "detail": self.detail,
        }


def self_function(context: LambdaContext) -> str:
    """The function to hand off to: the invoked ARN keeps an alias or version, else the name."""
    arn = getattr(context, "invoked_function_arn", None)
    return arn if isinstance(arn, str) and arn else context.function_name


class Relay:
    """Runs one invocation's share of a job."""

    def __init__(self, runtime: Runtime, event: RelayEvent, context: LambdaContext) -> None:
        self.rt = runtime
        self.event = event
        self.context = context
        self.remaining = context.get_remaining_time_in_millis
        self.owner = f"{context.aws_request_id}/{secrets.token_hex(3)}"

    def outcome(self, name: str, detail: str = "", epoch: int | None = None) -> dict[str, Any]:
        return Outcome(name, self.event.job_id, epoch or self.event.epoch, detail).to_dict()

    def run(self) -> dict[str, Any]:
        store = self.rt.store
        deadline = self.rt.clock.now_ms() + self.remaining()
        claimed = store.claim(self.event.job_id, self.event.epoch, self.owner, deadline)
        if isinstance(claimed, ClaimRejected):
            return self._rejected(claimed)
        self.rt.faults.hit(faults.AFTER_CLAIM)
        logger.info("claimed", extra={"hop": claimed.job.hops, "lease_owner": self.owner})
        requested = _requested(claimed.job)
        if requested is not None:
            store.stop(claimed, requested, HopEnd(0, requested.value.lower()))
            return self.outcome(requested.value.lower(), "operator request seen at claim")
        try:
            return self._work(claimed)
        except LeaseLost as exc:
            count("LeaseLost")
            logger.warning("lease lost; stopping without invoking", extra={"error": str(exc)})
            return self.outcome("lease_lost", str(exc))

    def _rejected(self, rejected: ClaimRejected) -> dict[str, Any]:
        exhausted = rejected.reason is RejectReason.HOPS_EXHAUSTED and rejected.job is not None
        if exhausted and rejected.job and self.rt.store.fail_exhausted(rejected.job) is not None:
            count("JobsFailed")
            logger.error("max_hops reached; job failed", extra={"max_hops": rejected.job.max_hops})
            return self.outcome("failed", "max_hops reached")
        count("DiscardedEvents")
        count(f"Discarded_{rejected.reason.value}")
        logger.info(
            "event discarded",
            extra={"reason": rejected.reason.value, "detail": rejected.describe(self.event.epoch)},
        )
        return self.outcome("discarded", rejected.reason.value)

    def _work(self, claim: Claim) -> dict[str, Any]:
        job = claim.job
        rt = self.rt
        budget = TimeBudget(self.remaining, rt.settings.min_margin_ms, job.timing)
        counters = dict(job.counters)
        items_at_start = self._items(job.task, counters)
        try:
            task_cls = get_task(job.task)
            resources = Resources(
                s3=rt.s3, action_modules=rt.settings.action_modules, logger=logger
            )
            task = task_cls(job.params, resources)
            state = rt.store.load_state(job) if job.has_state else task.start()
        except PERMANENT_ERRORS as exc:
            return self._fail(claim, f"{type(exc).__name__}: {exc}", 0)
        ctx = StepContext(counters, self.remaining, budget.work_window_ms, logger)
        steps = 0
        dirty = False
        last_commit = self.remaining()
        checkpoint_ms = rt.settings.checkpoint_s * 1000

        def items() -> int:
            return (
                self._items(job.task, counters) - items_at_start if task.progress_counter else steps
            )

        try:
            while True:
                if steps > 0 and budget.should_yield():
                    return self._hand_off(claim, Progress(state, counters), items(), budget)
                before = self.remaining()
                done = task.step(state, ctx)
                budget.observe_step(before - self.remaining())
                steps += 1
                dirty = True
                rt.faults.hit(faults.MID_STEP)
                if done:
                    rt.store.finish(claim, Progress(state, counters), HopEnd(items(), "finished"))
                    rt.faults.hit(faults.AFTER_FINISH)
                    count("JobsSucceeded")
                    count("ItemsProcessed", items())
                    logger.info("job finished", extra={"counters": counters})
                    return self.outcome("finished")
                if dirty and last_commit - self.remaining() >= checkpoint_ms:
                    before = self.remaining()
                    seen = rt.store.checkpoint(claim, Progress(state, counters))
                    budget.observe_write(before - self.remaining())
                    last_commit = self.remaining()
                    dirty = False
                    rt.faults.hit(faults.AFTER_CHECKPOINT)
                    requested = _requested(seen)
                    if requested is not None:
                        rt.store.stop(claim, requested, HopEnd(items(), requested.value.lower()))
                        count("ItemsProcessed", items())
                        logger.info(
                            "stopped on operator request", extra={"status": requested.value}
                        )
                        return self.outcome(requested.value.lower(), "operator request")
        except LeaseLost:
            raise
        except PERMANENT_ERRORS as exc:
            return self._fail(claim, f"{type(exc).__name__}: {exc}", items())
        except Exception as exc:
            return self._attempt_failed(claim, exc, items())

    def _hand_off(
        self, claim: Claim, progress: Progress, items: int, budget: TimeBudget
    ) -> dict[str, Any]:
        rt = self.rt
        job = claim.job
        count("ItemsProcessed", items)
        if job.hops >= job.max_hops:
            rt.store.fail(
                claim,
                f"max_hops reached: the job used all {job.max_hops} hops; its cursor is kept, "
                f"resume with a higher max_hops to continue",
                HopEnd(items, "max_hops"),
                progress,
            )
            count("JobsFailed")
            logger.error("max_hops reached; job failed", extra={"max_hops": job.max_hops})
            return self.outcome("failed", "max_hops reached")
        before = self.remaining()
        queued = rt.store.hand_off(claim, progress, HopEnd(items, "budget"), budget.learned())
        budget.observe_write(before - self.remaining())
        rt.faults.hit(faults.AFTER_HAND_OFF_WRITE)
        if _requested(queued) is not None:
            settled = rt.store.settle_requests(queued)
            if settled is not None:
                return self.outcome(settled.status.value.lower(), "operator request at hand-off")
        payload = {"job_id": job.job_id, "epoch": queued.epoch}
        invoker = SelfInvoker(rt.lambda_client, rt.sleep)
        rt.faults.hit(faults.DURING_INVOKE)
        sent = invoker.send(self_function(self.context), payload, self.remaining)
        count("HandOffs")
        if not sent:
            count("HandOffInvokeFailed")
            logger.error(
                "next epoch was committed but not invoked; the job waits QUEUED for the watchdog "
                "or `baton resume`",
                extra={"next_epoch": queued.epoch},
            )
            return self.outcome("handed_off_not_invoked", epoch=queued.epoch)
        logger.info("handed off", extra={"next_epoch": queued.epoch, "items": items})
        return self.outcome("handed_off", epoch=queued.epoch)

    def _fail(self, claim: Claim, error: str, items: int) -> dict[str, Any]:
        self.rt.store.fail(claim, error, HopEnd(items, "failed"))
        count("JobsFailed")
        logger.error("job failed", extra={"error": error})
        return self.outcome("failed", error)

    def _attempt_failed(self, claim: Claim, exc: Exception, items: int) -> dict[str, Any]:
        """Count the attempt and re-raise so Lambda retries the same epoch, or fail for good."""
        error = f"{type(exc).__name__}: {exc}"
        logger.exception("task error", extra={"attempt": claim.job.attempts + 1})
        result = self.rt.store.record_failure(claim, error, HopEnd(items, "error"))
        count("TaskErrors")
        if result.will_retry:
            raise exc
        count("JobsFailed")
        return self.outcome("failed", result.job.last_error or error)

    def _items(self, task: str, counters: dict[str, int]) -> int:
        try:
            name = get_task(task).progress_counter
        except BatonError:
            return 0
        return counters.get(name, 0) if name else 0


def _requested(job: Job) -> JobStatus | None:
    if job.cancel_requested:
        return JobStatus.CANCELLED
    if job.pause_requested:
        return JobStatus.PAUSED
    return None
