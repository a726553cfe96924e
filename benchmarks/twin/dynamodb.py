"""DynamoDB for the twin: moto keeps the items and checks every condition; this layer adds what
moto does not model: latency in virtual time, write units by table and by index, the
per-partition write limit (about 1,000 units per second for one partition key value, tables and
global secondary indexes alike; above it the write is throttled and botocore retries it), and
the sizes of the largest items.

Write units follow DynamoDB's rules: a write costs ceil(size / 1 KB) units of the larger of the
item before and after it (a refused conditional write costs the same), twice inside a
transaction; an index whose projected attributes change costs a put of the projected item, and
a change of the index key (the `by-status` index: `status`, `updated_at`) costs a delete from
the old key's partition and a put into the new one.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from benchmarks.twin.botocore_hooks import error_reply, ok_reply, virtual_backoff
from benchmarks.twin.figures import figure
from benchmarks.twin.scheduler import Loop, current

WRITES = ("UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems")
HASH_KEY = "job_id"


@dataclass
class DynamoDBTwin:
    loop: Loop
    table: str
    region: str = "us-east-1"
    throttle: bool = True
    calls: Counter[str] = field(default_factory=Counter)
    write_units: Counter[str] = field(
        default_factory=Counter
    )  # whole units, by "table" or index name
    read_units: float = 0.0
    throttled: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    largest_item: int = 0
    largest_item_id: str = ""
    largest_index_item: int = 0
    # (where, partition key value, virtual second) -> write units consumed
    _second: dict[tuple[str, str, int], float] = field(default_factory=lambda: defaultdict(float))
    peak: dict[str, tuple[float, str]] = field(default_factory=dict)
    # by-status partitions' write units per virtual second (for the plot and the report)
    index_series: dict[int, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    largest_state: int = 0
    largest_state_id: str = ""
    # Each shard's committed `objects` counter, as the table holds it.
    objects: dict[str, int] = field(default_factory=dict)

    def install(self, client: Any) -> None:
        """Answer and time the client's calls (a client one twin installed on already raises:
        its hooks would stay the earlier twin's, since botocore keeps the first handler
        registered under a unique id).

        Raises:
            RuntimeError: the client already carries a twin's hooks.
        """
        events = client.meta.events
        if "twin-ddb-before" in events._emitter._unique_id_handlers:
            raise RuntimeError("this DynamoDB client already answers to another twin")
        events.register("before-parameter-build.dynamodb", self._params, unique_id="twin-ddb-p")
        events.register("before-call.dynamodb", self._before, unique_id="twin-ddb-before")
        events.register("after-call.dynamodb", self._after, unique_id="twin-ddb-after")
        virtual_backoff(client, self.loop)

    # ------------------------------------------------------------------ moto's items

    def _item(self, job_id: str) -> Any:
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region]
        try:
            table = backend.get_table(self.table)
        except Exception:
            return None
        return table.get_item(DynamoType({"S": job_id}))

    def _projected(self, item: Any) -> dict[str, tuple[str, int, Any]]:
        """Per global secondary index holding the item: its index partition key value, the
        projected item's size and the projected item (read from the table's own definition in
        moto, so an index the store adds or re-keys is counted as it is).

        The projection is taken from the item's top-level attributes, as DynamoDB projects
        them: moto's own `Index.project` converts the whole item to JSON once per projected
        attribute, which for a fan-out parent's item cost most of the twin's CPU."""
        if item is None:
            return {}
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region]
        out: dict[str, tuple[str, int, Any]] = {}
        attrs = item.attrs
        for index in backend.get_table(self.table).global_indexes:
            keys = index.schema_key_attrs
            if any(k not in attrs for k in keys):
                continue
            names = _projected_names(index)
            chosen = attrs if names is None else {n: attrs[n] for n in names if n in attrs}
            size = sum(len(n.encode()) + v.size() for n, v in chosen.items())
            whole_key = tuple(str(attrs[k].value) for k in keys)
            view = tuple(sorted((n, repr(v.to_regular_json())) for n, v in chosen.items()))
            out[index.name] = (whole_key[0], size, (whole_key, view))
        return out

    # ------------------------------------------------------------------ hooks

    @staticmethod
    def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["twin_params"] = params

    def _targets(self, op: str, params: dict[str, Any]) -> list[str]:
        if op == "TransactWriteItems":
            ids = []
            for entry in params.get("TransactItems", []):
                body = next(iter(entry.values()))
                if body.get("TableName") != self.table:
                    continue
                key = body.get("Key") or body.get("Item") or {}
                if HASH_KEY in key:
                    ids.append(key[HASH_KEY]["S"])
            return ids
        key = params.get("Key") or params.get("Item") or {}
        return [key[HASH_KEY]["S"]] if HASH_KEY in key else []

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        op = model.name
        params = context.get("twin_params", {})
        self.calls[op] += 1
        if current() is None:
            return None
        if op not in WRITES:
            self.loop.wait(figure("ddb_read_ms"))
            return self._read(op, params)
        ids = (
            self._targets(op, params)
            if params.get("TableName", self.table) == self.table or op == "TransactWriteItems"
            else []
        )
        before = {job_id: self._item(job_id) for job_id in ids}
        context["twin_before"] = {
            job_id: (item.size() if item is not None else 0, self._projected(item))
            for job_id, item in before.items()
        }
        self.loop.wait(figure("ddb_write_ms") * (2 if op == "TransactWriteItems" else 1))
        if self.throttle:
            second = self.loop.now // 1000
            limit = figure("ddb_partition_wcu_per_s")
            for job_id, (_, indexes) in context["twin_before"].items():
                hot = [
                    name
                    for name, (partition, _, _) in indexes.items()
                    if self._second[(name, partition, second)] >= limit
                ]
                if self._second[("table", job_id, second)] >= limit:
                    hot.insert(0, "table")
                if hot:
                    where = hot[0]
                    self.throttled[where] += 1
                    return error_reply(
                        400,
                        "ThrottlingException",
                        "Throughput exceeds the current capacity for one or more partitions "
                        f"({where})",
                    )
        return None

    def _read(self, op: str, params: dict[str, Any]) -> Any:
        """GetItem and BatchGetItem of whole items, answered from moto's table without moto's
        response serializer (its cost grows with every attribute: a fan-out parent reading 1,000
        shards per poll would spend minutes there). Anything else goes to moto."""
        if op == "GetItem" and params.get("TableName") == self.table:
            if set(params) - {"TableName", "Key", "ConsistentRead", "ReturnConsumedCapacity"}:
                return None
            item = self._item(params["Key"][HASH_KEY]["S"])
            reply = {"Item": _parsed(item.to_json()["Attributes"])} if item is not None else {}
            self._count_reads(op, reply)
            return ok_reply(reply)
        if op == "BatchGetItem":
            requests = params.get("RequestItems", {})
            if set(requests) != {self.table}:
                return None
            request = requests[self.table]
            if set(request) - {"Keys", "ConsistentRead"}:
                return None
            found = [self._item(key[HASH_KEY]["S"]) for key in request["Keys"]]
            rows = [_parsed(item.to_json()["Attributes"]) for item in found if item is not None]
            reply = {"Responses": {self.table: rows}, "UnprocessedKeys": {}}
            self._count_reads(op, reply)
            return ok_reply(reply)
        return None

    def _after(
        self,
        http_response: Any,
        parsed: dict[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        op = model.name
        if op in {"Query", "Scan"}:
            self._count_reads(op, parsed)
            return
        before = context.get("twin_before")
        if op not in WRITES or before is None:
            return
        landed = http_response.status_code == 200
        if not landed:
            code = parsed.get("Error", {}).get("Code", "")
            if "ConditionalCheckFailed" not in code and "TransactionCanceled" not in code:
                return
            self.refused += 1
        factor = 2 if op == "TransactWriteItems" else 1
        second = self.loop.now // 1000
        unit = figure("ddb_write_unit_bytes")
        for job_id, (size_before, indexes_before) in before.items():
            item = self._item(job_id) if landed else None
            size_after = item.size() if item is not None else size_before
            indexes_after = self._projected(item) if landed else indexes_before
            if item is not None:
                self._observe(job_id, item)
            if size_after > self.largest_item:
                self.largest_item, self.largest_item_id = size_after, job_id
            for _partition, size, _projection in indexes_after.values():
                self.largest_index_item = max(self.largest_index_item, size)
            units = factor * max(1, math.ceil(max(size_before, size_after) / unit))
            self._charge("table", job_id, second, units)
            if not landed:
                continue
            for name in sorted(set(indexes_before) | set(indexes_after)):
                old = indexes_before.get(name)
                new = indexes_after.get(name)
                if old is not None and new is not None and old[2][0] == new[2][0]:
                    if old[2] != new[2]:  # same index key, a projected attribute changed: a put
                        self._charge(
                            name, new[0], second, factor * max(1, math.ceil(new[1] / unit))
                        )
                    continue
                # The index key changed (or the item entered or left the index): a delete from
                # the old key's partition and a put into the new one.
                if old is not None:
                    self._charge(name, old[0], second, factor * max(1, math.ceil(old[1] / unit)))
                if new is not None:
                    self._charge(name, new[0], second, factor * max(1, math.ceil(new[1] / unit)))

    def _observe(self, job_id: str, item: Any) -> None:
        """Remember each job's committed `objects` counter and status (for the plots)."""
        attrs = item.attrs
        state = attrs.get("state")
        ref = attrs.get("state_ref")
        size = 0
        if state is not None and isinstance(state.value, (str, bytes)):
            size = len(state.value)
        if ref is not None and ref.type == "M" and "size" in ref.value:
            size = int(_number(ref.value["size"]))
        if size > self.largest_state:
            self.largest_state, self.largest_state_id = size, job_id
        counters = attrs.get("counters")
        if counters is not None and counters.type == "M" and "parent_id" in attrs:
            raw = counters.value.get("objects")
            if raw is not None:
                self.objects[job_id] = int(_number(raw))

    def _charge(self, where: str, key: str, second: int, units: int) -> None:
        self.write_units[where] += units
        slot = (where, key, second)
        self._second[slot] += units
        used = self._second[slot]
        name = f"{where} partition"
        if used > self.peak.get(name, (0.0, ""))[0]:
            self.peak[name] = (used, key)
        if where != "table":
            self.index_series[second][key] = used

    def _count_reads(self, op: str, parsed: dict[str, Any]) -> None:
        unit = figure("ddb_read_unit_bytes")
        if op == "GetItem":
            items = [parsed["Item"]] if parsed.get("Item") else []
        elif op == "BatchGetItem":
            items = [i for rows in parsed.get("Responses", {}).values() for i in rows]
        else:
            items = parsed.get("Items", [])
        self.read_units += max(1, sum(math.ceil(_wire_size(i) / unit) for i in items))

    def cost_usd(self) -> float:
        return sum(self.write_units.values()) * figure("ddb_price_wru") + self.read_units * figure(
            "ddb_price_rru"
        )


def _projected_names(index: Any) -> list[str] | None:
    """The attribute names an index projects (None: all of them)."""
    projection = index.projection or {}
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return None
    names = list(index.table_key_attrs) + list(index.schema_key_attrs)
    if kind == "INCLUDE":
        names += list(projection.get("NonKeyAttributes", []))
    return list(dict.fromkeys(names))


def _parsed(attributes: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes as botocore's parser returns them (moto keeps binaries as bytes,
    as the parser does)."""
    return attributes


def _number(value: Any) -> str:
    """A number attribute inside a map, as moto holds it (a DynamoType, or its wire form)."""
    if isinstance(value, DynamoType):
        return str(value.value)
    return str(value["N"])


def _wire_size(item: dict[str, Any]) -> int:
    """An item's size from its wire form (attribute names and values)."""
    return sum(len(k.encode()) + DynamoType(v).size() for k, v in item.items())


class _TablesKept:
    """Stands in for the `copy` module inside moto's transaction: a whole-table backup is not
    made (the caller keeps the touched items instead); every other deep copy is real."""

    def __init__(self) -> None:
        import copy

        self._copy = copy

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if isinstance(obj, Table):
            return obj
        return self._copy.deepcopy(obj, memo)


def item_level_transactions() -> None:
    """moto backs up every table a transaction names before it runs (a deep copy: O(table) per
    transaction, O(n^2) for a fan-out that creates 10,000 shards in one table). Back up only
    the items the transaction touches, with the same all-or-nothing outcome."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, "_twin", False):
        return
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        kept: list[tuple[Any, Any, Any]] = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            hash_value = DynamoType(key[table.hash_key_attr])
            kept.append((table, hash_value, copy.deepcopy(table.items.get(hash_value))))
        setattr(models, "copy", _TablesKept())  # noqa: B010 - moto's module global, on purpose
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, item in kept:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            raise
        finally:
            setattr(models, "copy", copy)  # noqa: B010

    transact_write_items._twin = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
