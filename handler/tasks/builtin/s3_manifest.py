"""s3-manifest (`baton start s3-walk --manifest s3://...`): walk the objects an S3 Inventory lists.

Instead of listing the bucket, the walk reads the inventory report's data files in manifest
order and applies the same per-object actions as `s3-walk`, with the same counters, `on_error`
rule and report. The cursor is (file, record): the next record to process, so a hop may stop in
the middle of a file; the next hop reads that file again (checking its MD5 again) and skips the
records already committed. Counters therefore cover exactly the committed cursor.

The manifest is read on every hop with If-Match on the ETag seen on the first, so a report
replaced mid-walk fails the job rather than mixing two reports under one cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, model_validator

from baton.handler.api import (
    InvalidJob,
    JobFailure,
    Manifest,
    ObjectActionParams,
    ObjectActions,
    Resources,
    RowReader,
    StepContext,
    Task,
    open_rows,
    parse_s3_uri,
    read_manifest,
)

MAX_FILES = 1_000_000


def _s3_uri(value: str) -> str:
    try:
        parse_s3_uri(value, "manifest")
    except InvalidJob:
        raise ValueError("must be s3://bucket/key") from None
    return value


S3Uri = Annotated[str, AfterValidator(_s3_uri)]


class ManifestWalkParams(ObjectActionParams):
    manifest: S3Uri = Field(description="s3://bucket/key of an S3 Inventory manifest.json")
    manifest_etag: str | None = Field(
        None, min_length=1, max_length=100, description="Walk only this version of the manifest"
    )
    first_file: int = Field(0, ge=0, le=MAX_FILES, description="First data file to walk")
    end_file: int | None = Field(
        None, ge=1, le=MAX_FILES, description="Stop before this data file (default: the last)"
    )

    @model_validator(mode="after")
    def _files(self) -> Self:
        if self.end_file is not None and self.end_file <= self.first_file:
            raise ValueError("end_file must be above first_file")
        return self


class ManifestWalk(Task):
    name = "s3-manifest"
    progress_counter = "objects"
    Params = ManifestWalkParams

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.uri: str = params["manifest"]
        self.actions = ObjectActions(params, resources)
        self._manifest: Manifest | None = None
        self._reader: RowReader | None = None
        self._rows: Iterator[list[str]] | None = None
        self._rows_at: tuple[int, int] | None = None  # (file, next record) the iterator yields

    @classmethod
    def expected_total(cls, params: Mapping[str, Any]) -> int | None:
        expected = params.get("expected_objects")
        return int(expected) if isinstance(expected, int) else None

    def start(self) -> dict[str, Any]:
        return {
            # A fan-out shard walks the manifest version its parent planned with.
            "manifest_etag": self.params.get("manifest_etag"),
            "file": self.params.get("first_file", 0),
            "record": 0,
            "failures": [],
            "action": {},
        }

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "manifest": self.uri,
            "file": state.get("file"),
            "record": state.get("record"),
        }
        result.update(self.actions.summary(state))
        return result

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return self.actions.report(state)

    # ------------------------------------------------------------------ stepping

    def _load(self, state: dict[str, Any]) -> Manifest:
        if self._manifest is None:
            manifest = read_manifest(self.resources.s3, self.uri, state.get("manifest_etag"))
            files = len(manifest.files)
            end = self.params.get("end_file")
            if end is not None and end > files:
                raise JobFailure(
                    f"s3-manifest end_file {end} is past the {files} files of {self.uri}"
                )
            first = self.params.get("first_file", 0)
            if first and first >= files:
                raise JobFailure(
                    f"s3-manifest first_file {first} is past the {files} files of {self.uri}"
                )
            state["manifest_etag"] = manifest.etag
            self._manifest = manifest
            self._reader = RowReader(manifest)
        return self._manifest

    def _open(self, manifest: Manifest, file: int, record: int) -> Iterator[list[str]]:
        """The rows of `file` from `record` on: the file is read again from its start."""
        rows = open_rows(self.resources.s3, manifest, file)
        for skipped in range(record):
            if next(rows, None) is None:
                raise JobFailure(
                    f"inventory file {file} of {self.uri} has {skipped} records but the "
                    f"committed cursor is at record {record}: the file changed"
                )
        return rows

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """Process one listed object (opening its data file first when needed)."""
        manifest = self._load(state)
        end = int(self.params.get("end_file", len(manifest.files)))
        file, record = int(state["file"]), int(state["record"])
        if file >= end:
            return True
        if self._rows is None or self._rows_at != (file, record):
            self._rows = self._open(manifest, file, record)
            self._rows_at = (file, record)
        row = next(self._rows, None)
        if row is None:
            state["file"], state["record"] = file + 1, 0
            self._rows, self._rows_at = None, None
            return file + 1 >= end
        assert self._reader is not None
        if self._reader.is_delete_marker(row):
            ctx.count("delete_markers")
        else:
            where = f"inventory file {file} record {record} of {self.uri}"
            self.actions.apply(self._reader.object_ref(row, where), state, ctx)
        state["record"] = record + 1
        self._rows_at = (file, record + 1)
        return False
