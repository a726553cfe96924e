"""S3 for the twin: synthetic buckets listed arithmetically, the rest (state objects) in moto.

ListObjectsV2 on a synthetic bucket is answered by its `KeySpace` in a botocore `before-call`
hook, so the product's real client, parameters and retry loop are used and nothing is stored.
Each request costs virtual time (the service's latency, then the client's parsing of every key
returned and the per-object work of `count`), counts towards its prefix's request rate (above
5,500 per second S3 answers 503 SlowDown, which botocore retries), and is billed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from benchmarks.twin.botocore_hooks import error_reply, ok_reply, virtual_backoff
from benchmarks.twin.figures import figure
from benchmarks.twin.keyspace import KeySpace, KeySpaceError
from benchmarks.twin.scheduler import Loop, current

READS = ("ListObjectsV2", "ListObjects", "GetObject", "HeadObject")


@dataclass
class S3Twin:
    loop: Loop
    buckets: dict[str, KeySpace] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    keys_listed: int = 0
    slowdowns: int = 0
    # (prefix, virtual second) -> requests: the per-prefix rate S3 enforces.
    _rates: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    peak_prefix_rps: int = 0

    def install(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.s3", self._params, unique_id="twin-s3-params")
        events.register("before-call.s3", self._call, unique_id="twin-s3-call")
        virtual_backoff(client, self.loop)

    @staticmethod
    def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["twin_params"] = dict(params)

    def _call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        op = model.name
        params = context.get("twin_params", {})
        in_actor = current() is not None
        self.requests[op] += 1
        if in_actor and not self._within_rate(op, params):
            self.slowdowns += 1
            self.loop.wait(figure("s3_get_put_ms"))
            return error_reply(503, "SlowDown", "Please reduce your request rate.")
        space = self.buckets.get(params.get("Bucket", ""))
        if space is None:
            self.loop.wait(figure("s3_get_put_ms"))
            return None  # moto answers (the state bucket)
        if op not in ("ListObjectsV2",):
            return error_reply(
                501, "NotImplemented", f"the twin's synthetic buckets list only ({op})"
            )
        try:
            reply = space.list_objects_v2(params)
        except KeySpaceError as exc:
            return error_reply(400, "InvalidArgument", str(exc))
        keys = len(reply.get("Contents", ())) + len(reply.get("CommonPrefixes", ()))
        self.keys_listed += keys
        cost_ms = (
            figure("s3_list_ms") * max(keys, 1) / 1_000
            + keys * (figure("s3_list_parse_us_per_key") + figure("count_us_per_key")) / 1_000
        )
        # A page's service time grows with its size; a request costs at least a tenth of a
        # full page (its round trip).
        self.loop.wait(max(cost_ms, figure("s3_list_ms") / 10))
        return ok_reply(reply)

    def _within_rate(self, op: str, params: dict[str, Any]) -> bool:
        """Count the request against its prefix's rate for this virtual second."""
        where = params.get("Prefix") or params.get("StartAfter") or params.get("Key") or ""
        prefix = where.split("/", 1)[0]
        second = self.loop.now // 1000
        slot = (f"{params.get('Bucket')}/{prefix}", second)
        self._rates[slot] += 1
        rate = self._rates[slot]
        self.peak_prefix_rps = max(self.peak_prefix_rps, rate)
        limit = (
            figure("s3_read_rps_per_prefix") if op in READS else figure("s3_write_rps_per_prefix")
        )
        return rate <= limit

    def cost_usd(self) -> float:
        lists = sum(
            n for op, n in self.requests.items() if op.startswith("List") or op.startswith("Put")
        )
        others = sum(self.requests.values()) - lists
        return lists * figure("s3_price_list") + others * figure("s3_price_get")
