"""RecordSplitter: records cut from chunks of any size are exactly the object's records."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.handler.tasks.kit.byte_ranges import RecordSplitter, RecordTooLarge


class Chunks:
    """An in-memory object read like RangedObject: `size` bytes at `offset`."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.reads: list[tuple[int, int]] = []

    def read_into(self, offset: int, size: int, into: bytearray) -> int:
        self.reads.append((offset, size))
        data = self.body[offset : offset + size]
        into += data
        return len(data)


def split_all(
    body: bytes, range_size: int, csv_mode: bool, offset: int = 0
) -> list[tuple[int, bytes]]:
    splitter = RecordSplitter(Chunks(body), offset, range_size, csv_mode)
    out = []
    while (found := splitter.next_record("test")) is not None:
        out.append(found)
    return out


lines = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
        max_size=30,
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(lines=lines, trailing=st.booleans(), extra=st.integers(0, 50))
def test_json_lines_records_and_offsets_are_exact_for_any_range_size(
    lines: list[str], trailing: bool, extra: int
) -> None:
    body = "\n".join(lines).encode() + (b"\n" if trailing and lines else b"")
    longest = max((len(x.encode()) + 1 for x in lines), default=1)
    records = split_all(body, max(1, longest) + extra, csv_mode=False)
    assert b"".join(r for _, r in records) == body
    assert [o for o, _ in records] == [
        sum(len(r) for _, r in records[:i]) for i in range(len(records))
    ]
    # Resuming at any record boundary yields exactly the remaining records.
    for i, (offset, _) in enumerate(records):
        assert split_all(body, longest + extra, False, offset) == records[i:]


fields = st.text(alphabet='ab,"\n x', max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(fields, min_size=1, max_size=4), min_size=1, max_size=20),
    extra=st.integers(0, 20),
)
def test_csv_records_keep_quoted_newlines_and_quotes(rows: list[list[str]], extra: int) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    body = text.getvalue().encode()
    longest = max(len(line) for line in _csv_records(body))
    records = split_all(body, longest + extra, csv_mode=True)
    assert b"".join(r for _, r in records) == body
    # csv.writer quotes a lone empty field, so every row is one non-blank record.
    assert [next(csv.reader([r.decode()[:-1]])) for _, r in records] == rows


def _csv_records(body: bytes) -> list[bytes]:
    return [r for _, r in split_all(body, len(body) + 1, csv_mode=True)] or [b""]


def test_a_record_longer_than_the_range_is_refused_with_its_offset() -> None:
    body = b"short\n" + b"x" * 100 + b"\nafter\n"
    with pytest.raises(
        RecordTooLarge, match="record at byte 6 of test is longer than range_size 64"
    ):
        split_all(body, 64, csv_mode=False)


@pytest.mark.parametrize("start", [0, 1, 30, 63])
def test_any_record_over_the_range_size_is_refused_wherever_it_starts(start: int) -> None:
    body = b"p" * start + b"\n" + b"x" * 65 + b"\n" + b"after\n"  # a record of 66 bytes
    with pytest.raises(RecordTooLarge, match=f"byte {start + 1} of test"):
        split_all(body, 65, csv_mode=False)
    assert len(split_all(body, 66, csv_mode=False)) == 3


def test_a_last_record_of_exactly_the_range_size_without_a_line_end_is_read() -> None:
    body = b"a\n" + b"y" * 64
    assert split_all(body, 64, csv_mode=False) == [(0, b"a\n"), (2, b"y" * 64)]


def test_memory_is_bounded_by_two_ranges() -> None:
    body = b"".join(b"%d\n" % i for i in range(10_000))
    source = Chunks(body)
    splitter = RecordSplitter(source, 0, 256, False)
    peak = 0
    while splitter.next_record("test") is not None:
        peak = max(peak, len(splitter.buf))
    assert peak <= 2 * 256
    assert all(size == 256 for _, size in source.reads)
