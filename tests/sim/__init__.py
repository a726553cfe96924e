"""Deterministic simulation of baton's hand-off protocol (FoundationDB-style).

The real `store/` and `handler/` code runs against moto in process. Invocations run as
cooperative threads, exactly one at a time; control passes only at yield points (store calls,
S3 and Lambda calls, named fault points, a task's step) and a seeded chooser decides who runs
next and which fault strikes. A run is a pure function of its decision tape, so any failing
schedule replays exactly and shrinks to a short one.

    chooser.py   decisions: seeded random, replayed tapes, and the shrinker
    core.py      the scheduler, the virtual clock, Lambda's delivery model and the fault hooks
    tasks.py     the synthetic task and the s3-walk action the simulator drives
    checks.py    the invariants I1-I6, checked on every committed write and at the end
    scenario.py  one schedule end to end: plan, run, recover, check
    planted.py   deliberately broken stores, to prove the checks catch bugs
    classic.py   the classic recipe (state in the event, fixed margin), under the same faults
    chaos.py     `python -m tests.sim.chaos`: many schedules or a time budget
    compare.py   `python -m tests.sim.compare`: writes docs/classic-recipe.md
"""
