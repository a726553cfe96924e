"""The relay loop: claim, step until the budget says yield, then hand off to the next epoch.

claim -> load state -> loop:
    if budget says yield (after at least one step): hand off, return
    step()
    if done: finish, return
    if checkpoint due (its interval passed, or the lease would lapse before the next step and
    its commit: each checkpoint renews the lease): checkpoint (LeaseLost: return), honour
    cancel/pause

Every error in a hop ends in one of two ways. A `PermanentError` fails the job (cursor kept).
Anything else, from the task (an exit it raises, `SystemExit` or `KeyboardInterrupt`, included),
from loading the state, or a write of unknown outcome, is a failed attempt: the lease is released
with the attempt counted and the error re-raised, so Lambda's own retry can claim the same epoch
at once. Only when DynamoDB cannot take even that release does the error escape with the lease
held (the watchdog restarts the job once it expires).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from baton.handler import faults
from baton.handler.budget import TimeBudget
from baton.handler.children import ChildJobs
from baton.handler.endings import final_error, job_ending
from baton.handler.event import RelayEvent
from baton.handler.hop import Hop
from baton.handler.invoker import SelfInvoker
from baton.handler.lease_renewal import LeaseRenewal
from baton.handler.observability import count, logger
from baton.handler.parent_wake import wake_parked_parent
from baton.handler.runtime import Runtime
from baton.handler.tasks.framework.base import Resources, StepContext
from baton.handler.tasks.framework.catalog import get_task
from baton.store import hop_limit
from baton.store.errors import CorruptItem, LeaseLost, PermanentError, StateCorrupt
from baton.store.records import ClaimRejected, Ending, Job, JobStatus, RejectReason

# How a hop that handed the job on is named in the job's timeline (`recent_hops[].ended_by`).
HAND_OFF = "budget"
# ... and a hop that parked the job to wait (a fan-out parent whose shards all run).
PARKED = "waiting"
# ... and a hop that released a failed attempt (the job QUEUED for a retry, or FAILED).
RELEASED = "error"

# Claims refused because the job stopped (ended, or paused): a shard's parked parent is woken.
STOPPED = (RejectReason.TERMINAL, RejectReason.PAUSED)

# How often the failure release is tried (each try is itself retried by botocore).
RELEASE_TRIES = 3


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


class TaskExited(RuntimeError):
    """The task's code raised a `BaseException` that is no `Exception` (`SystemExit`,
    `KeyboardInterrupt`): re-raised as an ordinary error, so the attempt is counted and Lambda's
    retry runs, instead of the process exiting with the job held."""

    @classmethod
    def of(cls, exc: BaseException) -> TaskExited:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = cls(f"the task's code raised {detail}, which baton counts as a failed attempt")
        error.__cause__ = exc
        return error


def self_function(context: LambdaContext) -> str:
    """The function to hand off to: the invoked ARN keeps an alias or version, else the name."""
    arn = getattr(context, "invoked_function_arn", None)
    return arn if isinstance(arn, str) and arn else context.function_name


def retry_of_own_stop(
    reason: RejectReason, job: Job, event: RelayEvent, context: LambdaContext
) -> bool:
    """Lambda's retry of the invocation whose hop stopped this shard (ended or paused it):
    that invocation may have died between its stopping write and its wake-up, and no other
    event for the shard is coming, so the retry wakes the parked parent in its place. Only a
    retry of that invocation: any other event refused here stays as cheap as a discard.

    A hop that released a failed attempt (`ended_by` "error") stopped the shard only when that
    was its last attempt (the shard FAILED): a shard an operator stopped after the release was
    stopped by the operator, whose command wakes the parent."""
    if reason not in STOPPED or not job.parent_id:
        return False
    last = job.recent_hops[-1] if job.recent_hops else None
    return (
        last is not None
        and last.epoch == event.epoch
        and last.owner.startswith(f"{context.aws_request_id}/")
        and (last.ended_by != RELEASED or job.status is JobStatus.FAILED)
    )


def retry_of_own_hand_off(
    reason: RejectReason, job: Job, event: RelayEvent, context: LambdaContext
) -> bool:
    """Lambda retries a failed invocation under the same request id. When that invocation's
    hop ends the job's timeline with a hand-off and the job still waits QUEUED at the next
    epoch, unclaimed, it may have died between the hand-off write and the invoke: without
    a re-send the chain would wait for the watchdog's next sweep. A park counts too: its hop
    may have died before reading its shards again, when the last of them had stopped just
    before the park (and found the parent running, so sent no wake-up); a spurious wake-up
    costs one hop, after which the parent parks again."""
    if reason is not RejectReason.STALE_EPOCH or job.status is not JobStatus.QUEUED:
        return False
    if job.epoch != event.epoch + 1 or job.lease_owner is not None:
        return False
    last = job.recent_hops[-1] if job.recent_hops else None
    return (
        last is not None
        and last.epoch == event.epoch
        and last.ended_by in (HAND_OFF, PARKED)
        and last.owner.startswith(f"{context.aws_request_id}/")
    )


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
        before = self.remaining()
        deadline = self.rt.clock.now_ms() + before
        try:
            holder = store.claim(self.event.job_id, self.event.epoch, self.owner, deadline)
        except CorruptItem as exc:
            # No retry can fix a malformed item: raising would make Lambda retry it and the
            # watchdog re-send it. Mark it FAILED (readable in `baton list`) and stop here.
            count("CorruptItems")
            marked = store.fail_corrupt(self.event.job_id, str(exc))
            logger.error("corrupt job item", extra={"error": str(exc), "marked_failed": marked})
            return self.outcome("failed" if marked else "discarded", str(exc))
        if isinstance(holder, ClaimRejected):
            return self._rejected(holder)
        self.rt.faults.hit(faults.AFTER_CLAIM)
        logger.info("claimed", extra={"hop": holder.job.hops, "lease_owner": self.owner})
        hop = Hop(
            holder=holder,
            counters=dict(holder.job.counters),
            items_at_start=0,
            lease=LeaseRenewal(store.lease_ms, before),
        )
        try:
            return self._hop(hop, claim_ms=before - self.remaining())
        except LeaseLost as exc:
            if isinstance(exc.landed, Job):
                return self._own_write_landed(hop, exc.landed)
            count("LeaseLost")
            logger.warning("lease lost; stopping without invoking", extra={"error": str(exc)})
            return self.outcome("lease_lost", str(exc))

    def _hop(self, hop: Hop, claim_ms: int = 0) -> dict[str, Any]:
        """The hop, with every error ending as a failed job or a released, counted attempt."""
        try:
            requested = hop.job.requested_stop
            if requested is not None:
                return self._stop(hop, requested, "operator request seen at claim")
            return self._work(hop, claim_ms)
        except LeaseLost:
            raise
        except PermanentError as exc:
            return self._fail(hop, f"{type(exc).__name__}: {exc}", exc)
        except Exception as exc:
            return self._attempt_failed(hop, exc)
        except faults.SandboxGone:
            raise
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt... raised by the task's or an action's code: on
            # Lambda nothing else sends them. Left to escape, they would end the process with
            # the lease held and no error on the item; instead they are a failed attempt.
            return self._attempt_failed(hop, TaskExited.of(exc))

    def _own_write_landed(self, hop: Hop, job: Job) -> dict[str, Any]:
        """A write of this hop whose outcome was unknown turned out to have landed: finish what it
        began. A hand-off's next epoch must still be invoked; a terminal write is the end."""
        logger.warning(
            "an earlier write of unknown outcome had landed", extra={"status": job.status}
        )
        if job.status is JobStatus.QUEUED and job.epoch > hop.holder.lease.epoch:
            return self._invoke_next(job, hop.items())
        if job.status.terminal or job.status is JobStatus.PAUSED:
            self._wake_parent(job)  # the job stopped: a shard's parked parent waits for that
        return self.outcome(job.status.value.lower(), "an earlier write had landed", job.epoch)

    def _rejected(self, rejected: ClaimRejected) -> dict[str, Any]:
        job = rejected.job
        exhausted = rejected.reason is RejectReason.HOPS_EXHAUSTED and job is not None
        failed = self.rt.store.fail_exhausted(job) if exhausted and job is not None else None
        if failed is not None:
            self._wake_parent(failed)
            count("JobsFailed")
            logger.error("max_hops reached; job failed", extra={"max_hops": failed.max_hops})
            return self.outcome("failed", "max_hops reached")
        if job is not None and retry_of_own_stop(rejected.reason, job, self.event, self.context):
            self._wake_parent(job)
        if job is not None and retry_of_own_hand_off(
            rejected.reason, job, self.event, self.context
        ):
            count("HandOffResent")
            logger.warning(
                "Lambda retried the invocation that handed this job on: sending the next "
                "epoch's event again (it may have died before sending it; a duplicate is "
                "discarded by the claim)",
                extra={"next_epoch": job.epoch},
            )
            return self._invoke_next(job, items=0)
        count("DiscardedEvents")
        count(f"Discarded_{rejected.reason.value}")
        logger.info(
            "event discarded",
            extra={"reason": rejected.reason.value, "detail": rejected.describe(self.event.epoch)},
        )
        return self.outcome("discarded", rejected.reason.value)

    def _start_task(self, hop: Hop) -> None:
        rt = self.rt
        settings = rt.settings
        # The worker's own allow-list decides, whatever the machine that started the job had.
        task_cls = get_task(hop.job.task, settings.task_modules)
        children = ChildJobs(
            rt.store,
            rt.lambda_client,
            self_function(self.context),
            settings.action_modules,
            settings.task_modules,
            max_running=settings.fanout_cap,
            parent=hop.holder.lease,
        )
        resources = Resources(
            s3=rt.s3,
            action_modules=settings.action_modules,
            logger=logger,
            children=children,
            sleep=rt.sleep,
            pools=rt.pools,
            dynamodb=rt.dynamodb,
            task_modules=settings.task_modules,
        )
        params = hop.job.params
        if not hop.job.has_state and not hop.job.counters:
            # First hop: check the parameters again with the code that will run them (the CLI
            # may have had another version of the user's module, or none).
            params = task_cls.validate(params, settings.action_modules)
        hop.task = task_cls(params, resources)
        if hop.job.has_state:
            hop.state = rt.store.load_state(hop.job)
        elif hop.job.counters or hop.job.state_size:
            raise StateCorrupt(
                f"job {hop.job.job_id!r} has committed counters {hop.job.counters} but no state; "
                f"starting over would count its objects twice"
            )
        else:
            hop.state = hop.task.start()
        if task_cls.progress_counter:
            hop.items_at_start = hop.counters.get(task_cls.progress_counter, 0)

    def _work(self, hop: Hop, claim_ms: int = 0) -> dict[str, Any]:
        rt = self.rt
        budget = TimeBudget(self.remaining, rt.settings.min_margin_ms, hop.job.timing)
        budget.observe_write(claim_ms)  # every hop measures a write of its own: its claim
        self._start_task(hop)
        assert hop.task is not None
        task = hop.task
        ctx = StepContext(
            hop.counters,
            self.remaining,
            budget.work_window_ms,
            logger,
            hop.job.job_id,
            item_ms=budget.item_ms,
        )
        # The clock is read once per step: `now` is the remaining time after the last step.
        now = self.remaining()
        last_commit = now
        checkpoint_ms = rt.settings.checkpoint_s * 1000
        items = hop.items()  # read once per step: the count after one step is the next's start
        # Bound once: a count step is a few microseconds, and these lookups were a share of it.
        step, remaining, hit = task.step, self.remaining, rt.faults.hit
        should_yield_at, observe_step = budget.should_yield_at, budget.observe_step
        try:
            while True:
                if hop.steps > 0 and should_yield_at(now):
                    return self._hand_off(hop, budget)
                ctx.sized_ms = 0
                done = step(hop.state, ctx)
                after = remaining()
                hop.steps += 1
                items_after = hop.items()
                observe_step(now - after, items_after - items, ctx.sized_ms)
                items = items_after
                now = after
                hit(faults.MID_STEP)
                if done:
                    return self._finish(hop)
                if ctx.wait_requested is not None:
                    return self._park(hop, budget, ctx.wait_requested)
                asked = ctx.commit_requested
                ctx.commit_requested = False
                renew = hop.lease is not None and hop.lease.due(now, budget)
                if asked or renew or last_commit - now >= checkpoint_ms:
                    seen = hop.holder.checkpoint(hop.progress())
                    if hop.lease is not None:
                        hop.lease.renewed(now)
                    after = self.remaining()
                    budget.observe_write(now - after)
                    now = last_commit = after
                    rt.faults.hit(faults.AFTER_CHECKPOINT)
                    requested = seen.requested_stop
                    if requested is not None:
                        return self._stop(hop, requested, "operator request")
        finally:
            task.close()

    def _ending(
        self, hop: Hop, status: JobStatus, error: str | None = None, *, committed: bool = False
    ) -> Ending:
        """The summary and report the job leaves (handler/endings.py)."""
        return job_ending(self.rt, hop, status, error, committed=committed)

    def _finish(self, hop: Hop) -> dict[str, Any]:
        rt = self.rt
        ending = self._ending(hop, JobStatus.SUCCEEDED)
        hop.holder.finish(hop.progress(), hop.end("finished"), ending)
        rt.faults.hit(faults.AFTER_FINISH)
        self._wake_parent(hop.job)
        count("JobsSucceeded")
        count("ItemsProcessed", hop.items())
        logger.info("job finished", extra={"counters": hop.counters})
        return self.outcome("finished")

    def _stop(self, hop: Hop, status: JobStatus, why: str) -> dict[str, Any]:
        """Pause or cancel on an operator's request; the state was committed just before."""
        ending = None
        if hop.task is None:
            try:
                self._start_task(hop)
            except Exception:
                logger.exception("cannot load the task to report on the stopped job")
        self._pass_on(hop, status)
        if status is JobStatus.CANCELLED:
            ending = self._ending(hop, status)
        hop.holder.stop(status, hop.end(status.value.lower()), ending=ending)
        self._wake_parent(hop.job)
        count("ItemsProcessed", hop.items())
        logger.info("stopped on operator request", extra={"status": status.value})
        return self.outcome(status.value.lower(), why)

    @staticmethod
    def _pass_on(hop: Hop, status: JobStatus) -> None:
        """Let the task pass an operator's pause or cancel on (a fan-out to its shards)."""
        if hop.task is None or hop.state is None:
            return
        try:
            hop.task.stopping(hop.state, status)
        except Exception:
            logger.exception("the task could not pass the request on; stopping anyway")

    def _hand_off(self, hop: Hop, budget: TimeBudget) -> dict[str, Any]:
        rt = self.rt
        job = hop.job
        count("ItemsProcessed", hop.items())
        if hop_limit.out_of_hops(job):
            error = hop_limit.reached(job.max_hops)
            ending = self._ending(hop, JobStatus.FAILED, error)
            hop.holder.fail(error, hop.end("max_hops"), hop.progress(), ending)
            self._wake_parent(job)
            count("JobsFailed")
            logger.error("max_hops reached; job failed", extra={"max_hops": job.max_hops})
            return self.outcome("failed", "max_hops reached")
        before = self.remaining()
        queued = hop.holder.hand_off(hop.progress(), hop.end(HAND_OFF), budget.learned())
        budget.observe_write(before - self.remaining())
        rt.faults.hit(faults.AFTER_HAND_OFF_WRITE)
        requested = queued.requested_stop
        if requested is not None:
            self._pass_on(hop, requested)
            settled = rt.store.settle_requests(queued)
            if settled is not None:
                self._wake_parent(settled)
                return self.outcome(settled.status.value.lower(), "operator request at hand-off")
        before = self.remaining()
        result = self._invoke_next(queued, hop.items())
        budget.observe_invoke(before - self.remaining())
        return result

    def _park(self, hop: Hop, budget: TimeBudget, waiting_for: str) -> dict[str, Any]:
        """End the hop with the job parked (committed, unheld, QUEUED at the next epoch, no event
        sent): the wait holds no Lambda slot. Whoever ends the wait sends the event; the task's
        `woken`, read after the park write, catches an end that raced it."""
        rt = self.rt
        count("ItemsProcessed", hop.items())
        queued = hop.holder.park(hop.progress(), hop.end(PARKED), budget.learned(), waiting_for)
        rt.faults.hit(faults.AFTER_HAND_OFF_WRITE)
        requested = queued.requested_stop
        if requested is not None:
            self._pass_on(hop, requested)
            settled = rt.store.settle_requests(queued)
            if settled is not None:
                self._wake_parent(settled)
                return self.outcome(settled.status.value.lower(), "operator request at park")
        assert hop.task is not None
        try:
            woken = hop.task.woken(hop.state)
        except Exception:
            # The lease is gone: nothing may be retried under it. A spurious wake costs one hop.
            logger.exception("could not tell whether the wait had ended; waking the job")
            woken = True
        if woken:
            return self._invoke_next(queued, hop.items())
        count("Parked")
        logger.info("parked", extra={"waiting_for": waiting_for, "next_epoch": queued.epoch})
        return self.outcome("parked", waiting_for, epoch=queued.epoch)

    def _wake_parent(self, job: Job) -> None:
        """`job` stopped: when it is a shard whose parent waits parked, send the parent's event
        (`wake_parked_parent`; best effort, the watchdog is the backstop)."""
        invoker = SelfInvoker(self.rt.lambda_client, self.rt.sleep)
        function = self_function(self.context)

        def send(parent: Job) -> bool:
            payload = RelayEvent(job_id=parent.job_id, epoch=parent.epoch).payload()
            return invoker.send(function, payload, self.remaining)

        wake_parked_parent(self.rt.store, job, send)

    def _invoke_next(self, queued: Job, items: int) -> dict[str, Any]:
        """Send the event of the epoch a hand-off committed; the watchdog covers a failed send."""
        rt = self.rt
        payload = RelayEvent(job_id=queued.job_id, epoch=queued.epoch).payload()
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

    def _fail(self, hop: Hop, error: str, cause: Exception) -> dict[str, Any]:
        """Fail the job for good; if even that write fails, count it as a failed attempt."""
        error = final_error(hop.job, error)
        ending = self._ending(hop, JobStatus.FAILED, error, committed=True)
        try:
            hop.holder.fail(error, hop.end("failed"), ending=ending)
        except LeaseLost:
            raise
        except Exception:
            logger.exception("the job could not be marked FAILED; releasing the attempt")
            return self._attempt_failed(hop, cause)
        self._wake_parent(hop.job)
        count("JobsFailed")
        logger.error("job failed", extra={"error": error})
        return self.outcome("failed", error)

    def _attempt_failed(self, hop: Hop, exc: Exception) -> dict[str, Any]:
        """Count the attempt and re-raise so Lambda retries the same epoch, or fail for good."""
        error = f"{type(exc).__name__}: {exc}"
        logger.exception("task error", extra={"attempt": hop.job.attempts + 1})
        last = hop.holder.will_fail_on_error()
        if last:
            error = final_error(hop.job, error)
        ending = self._ending(hop, JobStatus.FAILED, error, committed=True) if last else None
        for attempt in range(1, RELEASE_TRIES + 1):
            try:
                result = hop.holder.record_failure(error, hop.end(RELEASED), ending)
                break
            except LeaseLost as lost:
                landed = lost.landed
                released = (
                    isinstance(landed, Job)
                    and landed.status is JobStatus.QUEUED
                    and landed.epoch == hop.holder.lease.epoch
                )
                if released:
                    count("TaskErrors")
                    raise exc from None  # an earlier try of this release had landed
                raise
            except Exception:
                logger.exception("the failed attempt could not be released", extra={"try": attempt})
                if attempt == RELEASE_TRIES or self.remaining() < self.rt.settings.min_margin_ms:
                    # DynamoDB takes nothing: the lease stays until it expires, then the
                    # watchdog restarts the job. Lambda's retry of this event is discarded.
                    count("ReleaseFailed")
                    raise exc from None
                self.rt.sleep(0.2 * attempt)
        count("TaskErrors")
        if result.will_retry:
            raise exc
        self._wake_parent(hop.job)
        count("JobsFailed")
        return self.outcome("failed", result.job.last_error or error)
