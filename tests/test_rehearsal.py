"""The deploy rehearsal (infra/rehearsal.py): the template resolved for every parameter set a user
may deploy passes AWS's rules, and the rehearsal catches each way a deploy fails on AWS while
moto accepts it (an empty policy, a parameter outside its constraints, a function name over 64,
a policy over its size, an unknown action, too little account concurrency).

The alarms are held to what an operator needs: evaluated the way CloudWatch evaluates them
(M of N datapoints, missing data as the alarm says) against the metrics of a normal full fan-out,
of a retried error and of a watchdog that stopped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.rehearsal import (
    LIST_PARAMETERS,
    STACK_NAME_MAX,
    Case,
    Result,
    full_case,
    markdown,
    matrix,
    rehearse,
    rehearse_case,
)
from infra.resolve import Resolver
from infra.sam import transform

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deploy.md"
BEGIN, END = "<!-- rehearsal-matrix:begin -->", "<!-- rehearsal-matrix:end -->"


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transform()


@pytest.fixture(scope="module")
def results(cfn: dict[str, Any]) -> list[Result]:
    return rehearse(cfn)


def messages(result: Result) -> list[str]:
    return [f"{f.where}: {f.message}" for f in result.findings]


# ---------------------------------------------------------------------------- the matrix


def test_every_case_of_the_matrix_passes_awss_rules(results: list[Result]) -> None:
    assert {r.case.name: messages(r) for r in results} == {r.case.name: [] for r in results}


def test_the_matrix_is_defaults_every_example_file_the_largest_case_and_the_kill_switch(
    results: list[Result],
) -> None:
    names = [r.case.name for r in results]
    shipped = sorted(p.name for p in (ROOT / "infra").glob("samconfig*.toml"))
    assert shipped and set(shipped) <= set(names)
    assert {"defaults", "full", "kill-switch"} <= set(names)
    full = next(r for r in results if r.case.name == "full")
    assert len(full.case.stack_name) == STACK_NAME_MAX == 55
    for name, most in LIST_PARAMETERS.items():
        assert len(full.case.parameters[name].split(",")) == most
    # In the largest case every optional grant exists: six per-list policies on the worker.
    policies = [k for k, r in full.resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert len(policies) == 7  # and the operators'
    killed = next(r for r in results if r.case.name == "kill-switch")
    assert killed.resources["Worker"]["Properties"]["ReservedConcurrentExecutions"] == "0"


def test_docs_list_the_matrix_and_the_limits(results: list[Result]) -> None:
    doc = DOC.read_text(encoding="utf-8")
    listed = doc[doc.index(BEGIN) + len(BEGIN) : doc.index(END)].strip()
    assert listed == markdown(results), "regenerate with: python -m infra.rehearsal --markdown"
    assert f"at most {STACK_NAME_MAX} characters" in doc
    assert "at most 57" not in doc


def test_docs_state_the_stacks_idle_cost_as_computed(results: list[Result]) -> None:
    """The fixed monthly cost, from the resolved defaults' alarms and dashboards and the
    watchdog's schedule, with the cost model's prices."""
    from benchmarks.cost import stack_fixed_monthly

    defaults = next(r for r in results if r.case.name == "defaults")
    kinds = [r["Type"] for r in defaults.resources.values()]
    rule = next(r for r in defaults.resources.values() if r["Type"] == "AWS::Events::Rule")
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    parts = stack_fixed_monthly(
        alarms=kinds.count("AWS::CloudWatch::Alarm"),
        dashboards=kinds.count("AWS::CloudWatch::Dashboard"),
        sweep_every_s=300,
    )
    rows = [f"| {name} | {value:.2f} |" for name, value in parts.items()]
    rows.append(f"| total | {sum(parts.values()):.2f} |")
    doc = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- fixed-cost:begin -->", "<!-- fixed-cost:end -->"
    table = doc[doc.index(begin) + len(begin) : doc.index(end)].strip().splitlines()[2:]
    assert table == rows
    assert f"about **${sum(parts.values()):.2f} a month**" in doc


# ---------------------------------------------------------------------------- what it catches


def _planted(cfn: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    planted = copy.deepcopy(cfn)
    change(planted)
    return planted


def test_a_policy_whose_statements_all_resolve_to_no_value_is_refused(
    cfn: dict[str, Any],
) -> None:
    """What the default deploy did before: the `tables` policy of conditional statements only."""

    def plant(t: dict[str, Any]) -> None:
        t["Resources"]["WorkerRole"]["Properties"]["Policies"].append(
            {
                "PolicyName": "tables",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Fn::If": [
                                "HasScanTables",
                                {
                                    "Effect": "Allow",
                                    "Action": "dynamodb:Scan",
                                    "Resource": {"Ref": "ScanTableArns"},
                                },
                                {"Ref": "AWS::NoValue"},
                            ]
                        }
                    ],
                },
            }
        )

    result = rehearse_case(_planted(cfn, plant), Case(name="defaults", why=""))
    assert messages(result) == [
        "WorkerRole policy tables: has no statement: IAM refuses it (MalformedPolicyDocument)"
    ]
    named = Case(name="tables", why="", parameters={"ScanTableArns": _table("users")})
    assert messages(rehearse_case(_planted(cfn, plant), named)) == []


def _table(name: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"


def test_parameter_values_outside_the_constraints_are_refused(cfn: dict[str, Any]) -> None:
    case = Case(
        name="bad",
        why="",
        parameters={
            "WorkerReservedConcurrency": "-1",  # the example file's value before
            "LogRetentionDays": "2",
            "ReadBuckets": "ok-bucket,Not_A_Bucket",
            "WorkerMemoryMB": "lots",
            "NoSuchParameter": "1",
        },
    )
    found = messages(rehearse_case(cfn, case))
    assert "parameter WorkerReservedConcurrency='-1': is below MinValue 0" in found
    assert any(m.startswith("parameter LogRetentionDays='2': is not one of") for m in found)
    assert any(m.startswith("parameter ReadBuckets='Not_A_Bucket': does not match") for m in found)
    assert "parameter WorkerMemoryMB='lots': is not a number" in found
    assert "parameter NoSuchParameter: the template has no such parameter" in found


def test_a_stack_name_over_55_breaks_the_watchdogs_name(cfn: dict[str, Any]) -> None:
    found = messages(rehearse_case(cfn, Case(name="long", why="", stack_name="s" * 57)))
    assert any(m.startswith("Watchdog: FunctionName 'sss") and "66 characters" in m for m in found)
    assert any(m.startswith("stack name:") and "at most 55" in m for m in found)
    assert messages(rehearse_case(cfn, Case(name="ok", why="", stack_name="s" * 55))) == []


def test_policies_over_their_size_and_lists_over_the_documented_limits_are_refused(
    cfn: dict[str, Any],
) -> None:
    big = full_case(list_max=dict.fromkeys(LIST_PARAMETERS, 30))
    found = messages(rehearse_case(cfn, big))
    assert any(
        m.startswith("WorkerScanTablesPolicy: the policy is") and "IAM allows 6144" in m
        for m in found
    ), found
    assert "documented limit ListBuckets: names 30; at most 25" in found


def test_the_iam_linter_reads_every_policy(cfn: dict[str, Any]) -> None:
    def plant(t: dict[str, Any]) -> None:
        statement = t["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        statement["Action"] = [*statement["Action"], "dynamodb:GetItm"]

    found = messages(rehearse_case(_planted(cfn, plant), Case(name="defaults", why="")))
    assert found == ["OperatorPolicy: UNKNOWN_ACTION: Unknown action dynamodb:GetItm"]


def test_the_account_must_have_room_for_the_reservations(cfn: dict[str, Any]) -> None:
    new_account = Case(name="new", why="", account_concurrency=50)
    (finding,) = rehearse_case(cfn, new_account).findings
    assert "reserve 11" in finding.message and "quota of 50" in finding.message
    assert rehearse_case(cfn, Case(name="ok", why="", account_concurrency=111)).findings == []


def test_the_resolver_drops_no_value_and_resolves_subs_and_conditions(cfn: dict[str, Any]) -> None:
    resolver = Resolver(cfn, "baton", {"ReadBuckets": "a-bucket"}, region="cn-north-1")
    resources = resolver.resources()
    assert "WorkerListBucketsPolicy" not in resources
    (listing, objects) = resources["WorkerReadBucketsPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert listing["Resource"] == ["arn:aws-cn:s3:::a-bucket"]
    assert objects["Resource"] == ["arn:aws-cn:s3:::a-bucket/*"]
    rule = resources["StateBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert "ExpirationInDays" not in rule and rule["ExpiredObjectDeleteMarker"] is True
    assert resources["Worker"]["Properties"]["FunctionName"] == "baton-worker"


# ---------------------------------------------------------------------------- alarms


# Metric datapoints per alarm period, over two hours, keyed by (metric name, function or "").
Series = dict[tuple[str, str], Callable[[int, int], float | None]]


def fires(alarm: dict[str, Any], series: Series) -> bool:
    """Whether CloudWatch would put the alarm in ALARM at the end of the series: the last
    EvaluationPeriods datapoints, DatapointsToAlarm of them breaching, missing ones treated as
    TreatMissingData says (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
    AlarmThatSendsEmail.html, "Evaluating an alarm")."""
    period = int(alarm["Period"])
    dimensions = alarm.get("Dimensions", [])
    key = (alarm["MetricName"], dimensions[0]["Value"] if dimensions else "")
    source = series.get(key, lambda _i, _p: None)
    count = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm", count))
    windows = 7200 // period
    points = [source(i, period) for i in range(windows - count, windows)]
    threshold = float(alarm["Threshold"])
    compare = {
        "GreaterThanOrEqualToThreshold": lambda v: v >= threshold,
        "GreaterThanThreshold": lambda v: v > threshold,
        "LessThanThreshold": lambda v: v < threshold,
        "LessThanOrEqualToThreshold": lambda v: v <= threshold,
    }[alarm["ComparisonOperator"]]
    missing = alarm.get("TreatMissingData", "missing")
    breaching = sum(
        1 if (p is None and missing == "breaching") else int(p is not None and compare(p))
        for p in points
    )
    return breaching >= needed


def firing(resources: dict[str, dict[str, Any]], series: Series) -> list[str]:
    return sorted(
        logical
        for logical, r in resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and fires(r["Properties"], series)
    )


def per_period(rate_per_5min: float) -> Callable[[int, int], float]:
    return lambda _i, period: rate_per_5min * period / 300


def healthy_watchdog() -> Series:
    return {("Invocations", "baton-watchdog"): per_period(1)}  # every 5 minutes


def test_a_full_fan_out_at_its_reserved_concurrency_fires_no_alarm(results: list[Result]) -> None:
    resources = next(r for r in results if r.case.name == "defaults").resources
    # Two hours at the cap: every slot busy, hand-offs throttled and retried within minutes,
    # the parent's polls and the shards' hops well under the invocations alarm.
    series: Series = {
        **healthy_watchdog(),
        ("ConcurrentExecutions", "baton-worker"): lambda _i, _p: 10.0,
        ("Throttles", "baton-worker"): per_period(6),
        ("AsyncEventAge", "baton-worker"): lambda _i, _p: 240_000.0,
        ("Invocations", "baton-worker"): per_period(40),
    }
    assert firing(resources, series) == []


def test_a_retried_error_fires_no_alarm_and_persistent_errors_do(results: list[Result]) -> None:
    resources = next(r for r in results if r.case.name == "defaults").resources
    last = 7200 // 300 - 1
    # An error, Lambda's retry a minute later errs again, the next one succeeds: two periods.
    retried: Series = {
        **healthy_watchdog(),
        ("Errors", "baton-worker"): lambda i, _p: 1.0 if i in (last - 1, last) else 0.0,
    }
    assert firing(resources, retried) == []
    persistent: Series = {**healthy_watchdog(), ("Errors", "baton-worker"): lambda _i, _p: 2.0}
    assert firing(resources, persistent) == ["WorkerErrorsAlarm"]


def test_a_watchdog_that_stops_running_fires_its_heartbeat_alarm(results: list[Result]) -> None:
    resources = next(r for r in results if r.case.name == "defaults").resources
    assert firing(resources, {}) == ["WatchdogHeartbeatAlarm"]
    assert firing(resources, healthy_watchdog()) == []


def test_events_stuck_for_half_an_hour_fire_the_event_age_alarm(results: list[Result]) -> None:
    resources = next(r for r in results if r.case.name == "defaults").resources
    stuck: Series = {
        **healthy_watchdog(),
        ("AsyncEventAge", "baton-worker"): lambda _i, _p: 2_400_000.0,
    }
    assert firing(resources, stuck) == ["WorkerEventAgeAlarm"]


def test_the_matrix_helper_reads_the_shipped_example(tmp_path: Path) -> None:
    cases = {c.name: c for c in matrix()}
    example = cases["samconfig.example.toml"]
    assert example.region == "eu-west-1" and example.stack_name == "baton"
    assert "WorkerReservedConcurrency" not in example.parameters
