"""CSV replay: recorded points played back through the adapter interface (offline dry runs).

The file has a header row; every column named after a contract point (``coolpilot.envs.contract``,
names and units as there) is replayed, other columns are ignored, so the series written by
``coolpilot simulate --csv`` (which holds several contract points among its columns) or a
BMS trend export renamed to the contract's names both work. A cell that parses as a float
is replayed as one (``nan`` included); an empty cell as None; anything else as its raw
text: validating readings is the safety envelope's job, not the replay's.

Pacing: with ``speed=None`` each :meth:`CsvReplayAdapter.read_points` call returns the
next row, stamped with the wall-clock time of the call (every reading is fresh). With a
number, the replay clock runs ``speed`` times real time from :meth:`connect`: a read
returns the latest row whose ``time_column`` (s) has been reached, stamped with the wall
time that row maps to, so a 300 s series at ``speed=300`` plays one row a second and a
row read twice looks exactly as old as it is. After the last row (at the pace, one row
interval after it), reads raise :class:`AdapterError` ("replay finished").

Writes are accepted and recorded in :attr:`CsvReplayAdapter.written`; nothing is replayed
differently because of them.
"""

from __future__ import annotations

import csv
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from coolpilot.controller.adapters.base import AdapterError, Reading, WriteResult
from coolpilot.envs.contract import POINT_SPECS, SETPOINT_SPECS


def _cell(text: str) -> object:
    """A CSV cell as replayed: float when it parses, None when empty, else the raw text."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return float(stripped)
    except ValueError:
        return text


class CsvReplayAdapter:
    """Replays the contract-point columns of a CSV file, one row per read (or paced by ``speed``).

    Raises :class:`ValueError` naming the file when it cannot be read, has no contract
    point column, or (with ``speed``) lacks a numeric, increasing ``time_column`` (s).
    """

    def __init__(self, path: str | Path, time_column: str = "time_s", speed: float | None = None) -> None:
        self.path = Path(path)
        self.time_column = time_column
        self.speed = speed
        self.name = f"csv-replay:{self.path.name}"
        self.written: list[dict[str, float | None]] = []
        """Every write, in order: ``{setpoint: value}``, None for a relinquished setpoint."""
        if speed is not None and not speed > 0.0:
            raise ValueError(f"{self.path}: replay speed = {speed} must be > 0 (times real time), or None")
        self.columns, self.rows, self.row_times_s = self._load()
        self.position = 0
        """Index of the next row (``speed=None``) or of the last row read."""
        self.start_wall_s: float | None = None
        """Unix time (s) the replay clock started (``connect()`` or the first read)."""

    def _load(self) -> tuple[list[str], list[dict[str, object]], list[float] | None]:
        try:
            with self.path.open(newline="", encoding="utf-8") as f:
                reader = csv.reader(f)
                header = [h.strip() for h in next(reader, [])]
                raw = [r for r in reader if any(c.strip() for c in r)]
        except OSError as err:
            raise ValueError(f"{self.path}: cannot read CSV replay file: {err.strerror or err}") from None
        except (UnicodeDecodeError, csv.Error) as err:
            raise ValueError(f"{self.path}: not a readable CSV file: {err}") from None
        columns = [h for h in header if h in POINT_SPECS]
        if not columns:
            raise ValueError(f"{self.path}: no column is a contract point (header {header[:8]}…); expected some of "
                             f"{list(POINT_SPECS)}")
        index = {h: i for i, h in enumerate(header)}
        rows = [{c: _cell(r[index[c]]) if index[c] < len(r) else None for c in columns} for r in raw]
        times = None
        if self.time_column in index:
            parsed = [_cell(r[index[self.time_column]]) if index[self.time_column] < len(r) else None for r in raw]
            if all(isinstance(t, float) and math.isfinite(t) for t in parsed):
                times = [float(t) for t in parsed]  # type: ignore[arg-type]
        if self.speed is not None:
            if times is None:
                raise ValueError(f"{self.path}: replay at a speed needs a numeric column {self.time_column!r} (s) "
                                 "in every row")
            if any(b <= a for a, b in itertools.pairwise(times)):
                raise ValueError(f"{self.path}: column {self.time_column!r} (s) must increase from row to row")
        return columns, rows, times

    async def connect(self) -> None:
        """Start the replay clock (``speed``); the file was read at construction."""
        if self.start_wall_s is None:
            self.start_wall_s = time.time()

    async def read_points(self) -> Reading:
        """The next row (or, paced, the current one); :class:`AdapterError` once the file is done."""
        now_s = time.time()
        if self.speed is None:
            if self.position >= len(self.rows):
                raise AdapterError(f"replay finished: {self.path} has {len(self.rows)} rows")
            row = self.rows[self.position]
            self.position += 1
            return Reading(dict(row), dict.fromkeys(row, now_s))
        return self._paced(now_s)

    def _paced(self, now_s: float) -> Reading:
        times = self.row_times_s
        assert times is not None and self.speed is not None
        if not times:
            raise AdapterError(f"replay finished: {self.path} has no rows")
        if self.start_wall_s is None:
            self.start_wall_s = now_s
        replay_s = times[0] + (now_s - self.start_wall_s) * self.speed
        end_s = times[-1] + (times[-1] - times[-2] if len(times) > 1 else 0.0)
        if replay_s > end_s:
            raise AdapterError(f"replay finished: {self.path} ends at {self.time_column} = {times[-1]:g} s")
        while self.position + 1 < len(times) and times[self.position + 1] <= replay_s:
            self.position += 1
        row = self.rows[self.position]
        measured_s = self.start_wall_s + (times[self.position] - times[0]) / self.speed
        return Reading(dict(row), dict.fromkeys(row, measured_s))

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        """Record the write; every contract setpoint is accepted."""
        return self._record(dict(setpoints))

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        """Record the relinquishment (None values)."""
        return self._record(dict.fromkeys(names))

    async def close(self) -> None:
        """Nothing to release."""

    def _record(self, values: dict[str, float | None]) -> WriteResult:
        unknown = {n: f"unknown setpoint {n!r}; the blocks' setpoints are {list(SETPOINT_SPECS)}"
                   for n in values if n not in SETPOINT_SPECS}
        self.written.append({n: v for n, v in values.items() if n not in unknown})
        return WriteResult({n: n not in unknown for n in values}, unknown)
