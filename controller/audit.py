"""The controller's audit trail: every decision and every mode change, in SQLite (WAL).

A decision is recorded once per control cycle, before the next cycle starts, and is
durable when :meth:`AuditStore.record` returns: the transaction is committed with
``journal_mode=WAL`` and ``synchronous=FULL``, so the WAL is fsynced at each commit and a
crash (process killed, power lost) keeps every recorded cycle. The trail is queryable
(the HTTP API's decision history, and its trends aggregated in SQL by :meth:`AuditStore.trends`)
and exportable as flat CSV.

Layout (schema version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version``; the file
is marked as a coolpilot audit trail by ``PRAGMA application_id`` = :data:`APPLICATION_ID`):

- ``decisions``: one row per cycle, unique on ``(run_id, cycle)``, indexed on ``time_s``.
  Points, raw output, written setpoints and interventions are JSON. JSON has no NaN or
  infinity, and a NaN reading or a NaN model output is exactly what an audit must keep: a
  non-finite value is stored as ``null`` and its name listed in the ``nonfinite`` column
  (``{"points": {"name": "nan" | "inf" | "-inf"}, ...}``), so it reads back as it was
  recorded, while a reading that was missing (``None``) reads back as ``None``.
- ``interventions``: one row per safety-envelope intervention (reason, target, time),
  indexed on ``(time_s, reason)`` so counts by reason are an index-only query. The full
  intervention (with its detail) is also kept in the decision's row, written in the same
  transaction, so a decision reads back in one query.
- ``mode_changes``: who changed the mode, when, from what to what, and why.
- ``override_changes`` (since v2): every operator override set or cleared through the
  service, with the setpoint, value (setpoint units), expiry (unix s), who and why.

A file of an older schema is upgraded when opened (the tables added since are created in
one write transaction; nothing recorded is changed); a file of a newer schema is refused.

Threads: the store is shared by the asyncio control loop and the HTTP API's worker
threads. Writes go through one connection (``check_same_thread=False``) serialized by a
lock: SQLite admits one writer at a time anyway, and a commit must not interleave with
another thread's statements. Every read opens its own short-lived read-only connection,
so a long CSV export never holds up :meth:`~AuditStore.record`, and WAL gives each read a
consistent snapshot while the control loop keeps writing.

The store records what it is told: mode and source are not checked against a list here
(the service owns those names), and a value of a type JSON cannot hold is stored as its
``repr`` rather than refused, so that auditing never stops the control loop.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from coolpilot.envs.contract import POINT_NAMES, SETPOINT_NAMES
from coolpilot.envs.jsonsafe import json_safe
from coolpilot.envs.units import SECONDS_PER_HOUR

log = logging.getLogger(__name__)

APPLICATION_ID = 0x43504C54
"""``PRAGMA application_id`` of a coolpilot audit trail ("CPLT")."""

SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of the layout this module writes; bumped with every schema change."""

BUSY_TIMEOUT_S = 5.0
"""How long a statement waits for another process's write lock before failing (s)."""

_SCHEMA_V1: tuple[str, ...] = (
    """CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        time_s REAL NOT NULL,
        mode TEXT NOT NULL,
        source TEXT NOT NULL,
        points TEXT NOT NULL,
        raw_output TEXT,
        written TEXT,
        interventions TEXT NOT NULL,
        nonfinite TEXT NOT NULL,
        model_sha256 TEXT,
        latency_ms REAL,
        wrote INTEGER NOT NULL CHECK (wrote IN (0, 1))
    )""",
    "CREATE UNIQUE INDEX decisions_run_cycle ON decisions (run_id, cycle)",
    "CREATE INDEX decisions_time ON decisions (time_s)",
    """CREATE TABLE interventions (
        decision_id INTEGER NOT NULL REFERENCES decisions (id),
        time_s REAL NOT NULL,
        reason TEXT NOT NULL,
        target TEXT NOT NULL
    )""",
    "CREATE INDEX interventions_time_reason ON interventions (time_s, reason)",
    """CREATE TABLE mode_changes (
        id INTEGER PRIMARY KEY,
        time_s REAL NOT NULL,
        run_id TEXT NOT NULL,
        old TEXT NOT NULL,
        new TEXT NOT NULL,
        who TEXT NOT NULL,
        why TEXT NOT NULL
    )""",
)

_OVERRIDE_CHANGES = """CREATE TABLE override_changes (
        id INTEGER PRIMARY KEY,
        time_s REAL NOT NULL,
        run_id TEXT NOT NULL,
        setpoint TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('set', 'clear')),
        value REAL,
        expires_s REAL,
        who TEXT NOT NULL,
        why TEXT NOT NULL
    )"""

_SCHEMA = (*_SCHEMA_V1, _OVERRIDE_CHANGES)
"""The statements that lay out an empty file at :data:`SCHEMA_VERSION`."""

_UPGRADES: dict[int, tuple[str, ...]] = {1: (_OVERRIDE_CHANGES,)}
"""Statements that take a file from schema version ``k`` to ``k + 1`` (additions only)."""

_DECISION_COLUMNS = ("run_id, cycle, time_s, mode, source, points, raw_output, written, interventions, nonfinite, "
                     "model_sha256, latency_ms, wrote")

_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class AuditError(ValueError):
    """The audit trail refuses a file or a record; the message names the file."""


@dataclass(frozen=True)
class DecisionRecord:
    """One control cycle's decision, as recorded in the audit trail."""

    cycle: int
    """Control cycle number, increasing within a service run; unique together with ``run_id``."""
    run_id: str
    """Id of the service run (uuid4 hex), so that restarts are told apart."""
    time_s: float
    """Unix time of the decision (s)."""
    mode: str
    """Service mode: ``shadow``, ``active``, ``fallback`` or ``off``."""
    source: str
    """Where the setpoints came from: ``policy``, ``hold``, ``fallback``, ``safe``, ``relinquish``, ``override``."""
    points: dict[str, float | None]
    """Inputs as read; NaN and infinity kept, ``None`` for a missing reading."""
    raw_output: dict[str, float] | str | None
    """The policy's raw output: a mapping, or a description of an error or of garbage."""
    written: dict[str, float] | None
    """Setpoints written to the plant; ``None`` when nothing was written (or control was relinquished)."""
    interventions: list[dict[str, str]]
    """Safety-envelope interventions, each ``{"reason": ..., "target": ..., "detail": ...}``."""
    model_sha256: str | None
    """sha256 of the running policy bundle's graph, if any."""
    latency_ms: float
    """Time to validate, infer and apply the envelope (ms)."""
    wrote: bool
    """Whether setpoints were actually sent to the plant (``False`` in shadow)."""


TREND_POINTS: dict[str, str] = {"inlet_temp_max_c": "max", "inlet_temp_mean_c": "mean",
                                "facility_power_kw": "mean", "cooling_power_kw": "mean"}
"""Points :meth:`AuditStore.trends` aggregates per bucket, and how: the hottest inlet by its maximum, the others
by their mean."""


@dataclass(frozen=True)
class Trends:
    """The audit trail over a time range, in buckets of equal width (columns: one value per non-empty bucket)."""

    since_s: float
    """Start of the range and of the first bucket (unix s)."""
    until_s: float
    """End of the range, excluded (unix s)."""
    bucket_s: float
    """Width of a bucket (s)."""
    start_s: list[float]
    """Start of each bucket that holds a decision, oldest first (unix s)."""
    records: list[int]
    """Decisions in each bucket."""
    points: dict[str, list[float | None]]
    """Per :data:`TREND_POINTS` name, its aggregate per bucket (point units); ``None`` with no finite reading."""
    proposed: dict[str, list[float | None]]
    """Per setpoint, the mean of the policy's raw output per bucket; ``None`` where it gave no number."""
    written: dict[str, list[float | None]]
    """Per setpoint, the last value written to the plant in each bucket; ``None`` where nothing was written."""
    marks: list[dict[str, object]]
    """Interventions in the range, ``{"time_s", "reason", "target"}``, oldest first (the newest kept)."""
    marks_left_out: int
    """Interventions in the range not in :attr:`marks` (older than those kept)."""


@dataclass(frozen=True)
class ModeEnergy:
    """Energy metered during the decisions recorded in one mode (see :meth:`AuditStore.energy`)."""

    decisions: int
    """Decisions recorded in this mode in the range."""
    hours: float
    """Time those decisions stand for (h): each until the next decision, at most ``max_gap_s``."""
    kwh: dict[str, float | None]
    """Per power point, its energy over the time it was metered (kWh); ``None`` if it never was."""
    metered_h: dict[str, float]
    """Per power point, the hours it stands for with a valid reading (h)."""


@dataclass(frozen=True)
class Energy:
    """Energy from the audit trail's power readings over a time range, by service mode."""

    since_s: float
    """Start of the range (unix s)."""
    until_s: float
    """End of the range, excluded (unix s)."""
    max_gap_s: float
    """Longest time one reading stands for (s): a gap between decisions beyond it is not counted."""
    by_mode: dict[str, ModeEnergy]
    """Per service mode (``shadow``, ``active``, ...), what was metered while it was in force."""


class AuditStore:
    """The audit trail of one site, in an SQLite file; see the module docstring for layout and threading.

    Opening creates the file, its folder and the schema if needed, and refuses (with
    :class:`AuditError` naming the path) a file that is not a coolpilot audit trail or
    was written by a newer schema. Usable as a context manager (closes on exit).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        if self.path.exists() and not self.path.is_file():
            raise AuditError(f"{self.path}: not a coolpilot audit database (not a file)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._open()
        except sqlite3.Error as err:
            self._conn.close()
            raise AuditError(f"{self.path}: not a usable coolpilot audit database ({err})") from err
        except AuditError:
            self._conn.close()
            raise
        log.debug("audit trail %s open (schema v%d)", self.path, SCHEMA_VERSION)

    # --- opening ------------------------------------------------------------------
    def _open(self) -> None:
        """Check the file is ours (or empty), create the schema if empty, set the durability pragmas."""
        conn = self._conn
        try:
            self._check_identity(create=False)
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError):
                raise
            raise AuditError(f"{self.path}: not a coolpilot audit database (not an SQLite file: {err})") from err
        mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        if mode != "wal":
            raise AuditError(f"{self.path}: cannot use write-ahead logging (journal_mode stays {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        with self._transaction():
            self._check_identity(create=True)

    def _check_identity(self, *, create: bool) -> None:
        """Refuse a foreign file or another schema version; with ``create``, lay out an empty file (in a write txn)."""
        conn = self._conn
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and tables == 0:
            if create:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                log.info("created audit trail %s", self.path)
            return
        if app_id != APPLICATION_ID:
            raise AuditError(f"{self.path}: not a coolpilot audit database "
                             f"(application_id {app_id:#x}, expected {APPLICATION_ID:#x})")
        if version in _UPGRADES:
            if create:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _UPGRADES[step]:
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                log.info("upgraded audit trail %s from schema v%d to v%d", self.path, version, SCHEMA_VERSION)
            return
        if version != SCHEMA_VERSION:
            raise AuditError(f"{self.path}: audit schema v{version} is not supported "
                             f"(this coolpilot reads v{SCHEMA_VERSION})")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the writer connection, committed (durably) on exit."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _writer(self, what: str) -> Iterator[sqlite3.Connection]:
        """The lock-guarded writer connection inside a transaction; SQLite errors become :class:`AuditError`."""
        with self._lock:
            self._check_open()
            try:
                with self._transaction() as conn:
                    yield conn
            except sqlite3.IntegrityError as err:
                raise AuditError(f"{self.path}: {what} refused ({err})") from err
            except sqlite3.Error as err:
                raise AuditError(f"{self.path}: {what} failed ({err})") from err

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A fresh read-only connection (its own WAL snapshot per statement, or per explicit transaction)."""
        self._check_open()
        try:
            conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                                   isolation_level=None)
        except sqlite3.Error as err:
            raise AuditError(f"{self.path}: cannot open for reading ({err})") from err
        try:
            yield conn
        finally:
            conn.close()

    def _check_open(self) -> None:
        if self._closed:
            raise AuditError(f"{self.path}: audit store is closed")

    # --- writing ------------------------------------------------------------------
    def record(self, rec: DecisionRecord) -> int:
        """Record one decision; committed (durable) when this returns. Returns its row id.

        Raises :class:`AuditError` if ``(run_id, cycle)`` was already recorded or the
        time is not finite.
        """
        _check_time("time_s", rec.time_s)
        points, points_nf = _encode_floats(rec.points)
        nonfinite: dict[str, dict[str, str]] = {"points": points_nf} if points_nf else {}
        raw: str | None = None
        if isinstance(rec.raw_output, Mapping):
            raw_plain, raw_nf = _encode_floats(rec.raw_output)
            raw = _dumps(raw_plain)
            if raw_nf:
                nonfinite["raw_output"] = raw_nf
        elif rec.raw_output is not None:
            raw = _dumps(str(rec.raw_output))
        written: str | None = None
        if rec.written is not None:
            written_plain, written_nf = _encode_floats(rec.written)
            written = _dumps(written_plain)
            if written_nf:
                nonfinite["written"] = written_nf
        interventions = [{str(k): str(v) for k, v in i.items()} for i in rec.interventions]
        latency = float(rec.latency_ms)
        row = (str(rec.run_id), int(rec.cycle), float(rec.time_s), str(rec.mode), str(rec.source), _dumps(points),
               raw, written, _dumps(interventions), _dumps(nonfinite),
               None if rec.model_sha256 is None else str(rec.model_sha256),
               None if math.isnan(latency) else latency, int(bool(rec.wrote)))
        what = f"decision run {rec.run_id} cycle {rec.cycle}"
        with self._writer(what) as conn:
            if conn.execute("SELECT 1 FROM decisions WHERE run_id = ? AND cycle = ?",
                            (row[0], row[1])).fetchone() is not None:
                raise AuditError(f"{self.path}: {what} is already recorded (a cycle is recorded once)")
            cur = conn.execute(f"INSERT INTO decisions ({_DECISION_COLUMNS}) VALUES ({', '.join('?' * 13)})", row)
            row_id = cur.lastrowid
            assert row_id is not None
            conn.executemany("INSERT INTO interventions (decision_id, time_s, reason, target) VALUES (?, ?, ?, ?)",
                             [(row_id, row[2], i.get("reason", ""), i.get("target", "")) for i in interventions])
        return row_id

    def record_mode_change(self, time_s: float, run_id: str, old: str, new: str, who: str, why: str) -> int:
        """Record a mode change with who made it and why; durable when this returns. Returns its row id."""
        _check_time("time_s", time_s)
        row = (float(time_s), str(run_id), str(old), str(new), str(who), str(why))
        with self._writer(f"mode change {old} -> {new}") as conn:
            cur = conn.execute("INSERT INTO mode_changes (time_s, run_id, old, new, who, why) "
                               "VALUES (?, ?, ?, ?, ?, ?)", row)
            row_id = cur.lastrowid
        assert row_id is not None
        return row_id

    def record_override_change(self, time_s: float, run_id: str, setpoint: str, action: str, value: float | None,
                               expires_s: float | None, who: str, why: str) -> int:
        """Record an operator override set (``action="set"``, with value and expiry) or cleared (``"clear"``).

        ``value`` is in the setpoint's unit and ``expires_s`` a unix time (s); durable when this returns.
        Returns its row id.
        """
        _check_time("time_s", time_s)
        if action not in ("set", "clear"):
            raise AuditError(f"{self.path}: override action {action!r} is not 'set' or 'clear'")
        for name, number in (("value", value), ("expires_s", expires_s)):
            if number is not None and not math.isfinite(float(number)):
                raise AuditError(f"{self.path}: override {name} is {number}: a finite number is needed")
        row = (float(time_s), str(run_id), str(setpoint), action, None if value is None else float(value),
               None if expires_s is None else float(expires_s), str(who), str(why))
        with self._writer(f"override {action} of {setpoint}") as conn:
            cur = conn.execute("INSERT INTO override_changes (time_s, run_id, setpoint, action, value, expires_s, "
                               "who, why) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            row_id = cur.lastrowid
        assert row_id is not None
        return row_id

    # --- reading ------------------------------------------------------------------
    def decisions(self, *, since_s: float | None = None, until_s: float | None = None, run_id: str | None = None,
                  limit: int = 100, offset: int = 0, newest_first: bool = True) -> list[DecisionRecord]:
        """Recorded decisions with ``since_s <= time_s < until_s`` (unix s), ordered by time.

        ``limit`` and ``offset`` page through the selection in the chosen order.
        """
        if limit < 0 or offset < 0:
            raise ValueError(f"limit ({limit}) and offset ({offset}) must be >= 0")
        where, args = _where(since_s, until_s, run_id)
        order = "DESC" if newest_first else "ASC"
        sql = (f"SELECT {_DECISION_COLUMNS} FROM decisions AS d{where} "
               f"ORDER BY d.time_s {order}, d.id {order} LIMIT ? OFFSET ?")
        with self._reader() as conn:
            rows = conn.execute(sql, [*args, limit, offset]).fetchall()
        return [_decode_decision(row) for row in rows]

    def mode_changes(self, *, limit: int = 100) -> list[dict[str, object]]:
        """Mode changes, last recorded first: ``id, time_s, run_id, old, new, who, why``.

        Ordered by recording order rather than by time, so that the last change wins
        even if the clock was set back.
        """
        if limit < 0:
            raise ValueError(f"limit ({limit}) must be >= 0")
        with self._reader() as conn:
            cur = conn.execute("SELECT id, time_s, run_id, old, new, who, why FROM mode_changes "
                               "ORDER BY id DESC LIMIT ?", (limit,))
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def override_changes(self, *, limit: int = 100) -> list[dict[str, object]]:
        """Overrides set and cleared, last recorded first: ``id, time_s, run_id, setpoint, action, value,
        expires_s, who, why`` (``value`` in the setpoint's unit, times unix s; ``None`` for a clear)."""
        if limit < 0:
            raise ValueError(f"limit ({limit}) must be >= 0")
        with self._reader() as conn:
            cur = conn.execute("SELECT id, time_s, run_id, setpoint, action, value, expires_s, who, why "
                               "FROM override_changes ORDER BY id DESC LIMIT ?", (limit,))
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def count(self, run_id: str | None = None) -> int:
        """Number of recorded decisions (of one run, if given)."""
        where, args = _where(None, None, run_id)
        with self._reader() as conn:
            return int(conn.execute(f"SELECT count(*) FROM decisions AS d{where}", args).fetchone()[0])

    def last_cycle(self, run_id: str) -> int | None:
        """The highest cycle number recorded for ``run_id``, or ``None`` if it recorded none."""
        with self._reader() as conn:
            value = conn.execute("SELECT max(cycle) FROM decisions WHERE run_id = ?", (run_id,)).fetchone()[0]
        return None if value is None else int(value)

    def intervention_counts(self, since_s: float | None = None) -> dict[str, int]:
        """How many interventions of each reason were recorded (at or after ``since_s``, unix s)."""
        where, args = _where(since_s, None, None, table="interventions")
        with self._reader() as conn:
            rows = conn.execute(f"SELECT reason, count(*) FROM interventions{where} GROUP BY reason ORDER BY reason",
                                args).fetchall()
        return {str(reason): int(n) for reason, n in rows}

    def trends(self, since_s: float, until_s: float, bucket_s: float,
               max_marks: int = 500, setpoints: Sequence[str] = SETPOINT_NAMES) -> Trends:
        """The trail from ``since_s`` to ``until_s`` (unix s) aggregated in buckets ``bucket_s`` wide, and its marks.

        Bucket ``k`` holds the decisions with ``since_s + k * bucket_s <= time_s < since_s + (k + 1) * bucket_s``;
        only buckets holding a decision are returned, oldest first. Per bucket: the maximum of
        ``inlet_temp_max_c`` (the hottest inlet seen, °C), the mean of ``inlet_temp_mean_c`` (°C),
        ``facility_power_kw`` and ``cooling_power_kw`` (kW), per setpoint of ``setpoints`` (default the core
        block's; the service passes its facility contract's) the mean of the policy's raw output
        and the last value written to the plant (setpoint units). Readings that were missing or not finite
        are left out; a figure with nothing to aggregate is ``None``. Interventions in the range are the
        marks, the newest ``max_marks`` kept (oldest first) and the others counted.

        One read transaction: the aggregation is a single SQL statement over the ``time_s`` index, with the
        JSON columns read by SQLite (``json_extract``) rather than decoded row by row in Python, so the
        calling thread holds the GIL only to build the result (see ``benchmarks/bench_console.py``).
        """
        _check_time("since_s", since_s)
        _check_time("until_s", until_s)
        if not (math.isfinite(bucket_s) and bucket_s > 0.0):
            raise ValueError(f"bucket_s ({bucket_s}) must be a positive number of seconds")
        if max_marks < 0:
            raise ValueError(f"max_marks ({max_marks}) must be >= 0")
        args: dict[str, object] = {"since": float(since_s), "until": float(until_s), "width": float(bucket_s)}
        columns = []
        for k, (name, how) in enumerate(TREND_POINTS.items()):
            args[f"p{k}"] = f"$.{name}"
            columns.append(f"{'max' if how == 'max' else 'avg'}({_json_number('r.points', f':p{k}')})")
        for k, name in enumerate(setpoints):
            args[f"s{k}"] = f"$.{name}"
            columns.append(f"avg({_json_number('r.raw_output', f':s{k}')})")
        written = [_json_number("w.written", f":s{k}") for k in range(len(setpoints))]
        sql = f"""
            WITH r AS (
                SELECT CAST((d.time_s - :since) / :width AS INTEGER) AS b, d.id, d.time_s, d.points, d.raw_output,
                       d.written
                FROM decisions AS d WHERE d.time_s >= :since AND d.time_s < :until),
            agg AS (SELECT r.b, count(*) AS n, {', '.join(columns)} FROM r GROUP BY r.b),
            last AS (
                SELECT b, written FROM (
                    SELECT r.b, r.written,
                           row_number() OVER (PARTITION BY r.b ORDER BY r.time_s DESC, r.id DESC) AS k
                    FROM r WHERE r.written IS NOT NULL)
                WHERE k = 1)
            SELECT agg.*, {', '.join(written)} FROM agg LEFT JOIN last AS w ON w.b = agg.b ORDER BY agg.b"""
        with self._reader() as conn:
            conn.execute("BEGIN")  # one snapshot for the buckets and the marks; ends when conn closes
            rows = conn.execute(sql, args).fetchall()
            window = (float(since_s), float(until_s))
            total = int(conn.execute("SELECT count(*) FROM interventions WHERE time_s >= ? AND time_s < ?",
                                     window).fetchone()[0])
            marks = conn.execute("SELECT time_s, reason, target FROM interventions WHERE time_s >= ? AND time_s < ? "
                                 "ORDER BY time_s DESC, rowid DESC LIMIT ?", (*window, max_marks)).fetchall()
        n_points, n_setpoints = len(TREND_POINTS), len(setpoints)
        cols = list(zip(*rows, strict=True)) if rows else [()] * (2 + n_points + 2 * n_setpoints)
        first_proposed, first_written = 2 + n_points, 2 + n_points + n_setpoints
        return Trends(
            since_s=float(since_s), until_s=float(until_s), bucket_s=float(bucket_s),
            start_s=[float(since_s) + int(b) * float(bucket_s) for b in cols[0]],
            records=[int(n) for n in cols[1]],
            points={name: [_float(v) for v in cols[2 + k]] for k, name in enumerate(TREND_POINTS)},
            proposed={name: [_float(v) for v in cols[first_proposed + k]] for k, name in enumerate(setpoints)},
            written={name: [_float(v) for v in cols[first_written + k]] for k, name in enumerate(setpoints)},
            marks=[{"time_s": float(t), "reason": str(reason), "target": str(target)}
                   for t, reason, target in reversed(marks)],
            marks_left_out=total - len(marks),
        )

    def energy(self, since_s: float, until_s: float, max_gap_s: float,
               points: Mapping[str, tuple[float, float]]) -> Energy:
        """Energy of the power ``points`` (kW) recorded from ``since_s`` to ``until_s`` (unix s), by service mode.

        Each decision's reading stands for the time until the next decision (the last one: until
        ``until_s``), at most ``max_gap_s``, so a service that was down leaves a gap rather than an
        invented plateau; a reading that is missing, not finite or outside its ``(low, high)`` range
        (kW, the sensor's physical range) counts for nothing. ``points`` maps each power point to that
        range. One SQL statement over the ``time_s`` index (JSON read by SQLite), like :meth:`trends`.
        """
        _check_time("since_s", since_s)
        _check_time("until_s", until_s)
        if not (math.isfinite(max_gap_s) and max_gap_s > 0.0):
            raise ValueError(f"max_gap_s ({max_gap_s}) must be a positive number of seconds")
        args: dict[str, object] = {"since": float(since_s), "until": float(until_s), "gap": float(max_gap_s)}
        readings, sums = [], []
        for k, (name, (low, high)) in enumerate(points.items()):
            args.update({f"p{k}": f"$.{name}", f"lo{k}": float(low), f"hi{k}": float(high)})
            value = _json_number("d.points", f":p{k}")
            readings.append(f"CASE WHEN ({value}) BETWEEN :lo{k} AND :hi{k} THEN ({value}) END AS p{k}")
            sums.append(f"total(p{k} * dt), total(CASE WHEN p{k} IS NOT NULL THEN dt END)")
        sql = f"""
            WITH r AS (
                SELECT d.mode,
                       min(coalesce(lead(d.time_s) OVER (ORDER BY d.time_s, d.id), :until) - d.time_s, :gap) AS dt
                       {''.join(', ' + r for r in readings)}
                FROM decisions AS d WHERE d.time_s >= :since AND d.time_s < :until)
            SELECT mode, count(*), total(dt){''.join(', ' + x for x in sums)} FROM r GROUP BY mode ORDER BY mode"""
        with self._reader() as conn:
            rows = conn.execute(sql, args).fetchall()
        by_mode = {}
        for mode, n, covered_s, *figures in rows:
            kw_s, metered_s = figures[0::2], figures[1::2]
            by_mode[str(mode)] = ModeEnergy(
                decisions=int(n), hours=float(covered_s) / SECONDS_PER_HOUR,
                kwh={name: (float(e) / SECONDS_PER_HOUR if m > 0.0 else None)
                     for name, e, m in zip(points, kw_s, metered_s, strict=True)},
                metered_h={name: float(m) / SECONDS_PER_HOUR for name, m in zip(points, metered_s, strict=True)})
        return Energy(since_s=float(since_s), until_s=float(until_s), max_gap_s=float(max_gap_s), by_mode=by_mode)

    def pragmas(self) -> dict[str, object]:
        """The writer connection's durability settings and the file's schema marks (health checks, tests)."""
        with self._lock:
            self._check_open()
            get = self._conn.execute
            return {
                "journal_mode": str(get("PRAGMA journal_mode").fetchone()[0]).lower(),
                "synchronous": _SYNCHRONOUS.get(int(get("PRAGMA synchronous").fetchone()[0]), "?"),
                "user_version": int(get("PRAGMA user_version").fetchone()[0]),
                "application_id": int(get("PRAGMA application_id").fetchone()[0]),
            }

    # --- export -------------------------------------------------------------------
    def export_csv(self, out: str | Path | TextIO, *, since_s: float | None = None,
                   until_s: float | None = None) -> int:
        """Write decisions with ``since_s <= time_s < until_s`` as CSV, oldest first; returns the rows written.

        Columns: ``time_s, run_id, cycle, mode, source, wrote, model_sha256, latency_ms``,
        ``point_<name>`` per point, ``raw_<setpoint>`` per raw output, ``raw_error`` (the
        raw output when it was not a mapping: an error or garbage), ``written_<setpoint>``
        per written setpoint, and ``interventions`` (``reason:target`` joined by ``;``).
        Contract names come first in contract order, then any other names in the selection,
        sorted. Floats are written so that ``float()`` reads them back exactly (``nan``,
        ``inf`` included); a missing value is empty; ``wrote`` is ``true`` or ``false``.
        """
        if isinstance(out, str | Path):
            path = Path(out)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as f:
                return self._export(f, since_s, until_s)
        return self._export(out, since_s, until_s)

    def _export(self, out: TextIO, since_s: float | None, until_s: float | None) -> int:
        where, args = _where(since_s, until_s, None)
        with self._reader() as conn:
            conn.execute("BEGIN")  # one snapshot for the column scan and the rows; ends when conn closes
            points = _names(POINT_NAMES, _json_keys(conn, "points", where, args))
            raws = _names(SETPOINT_NAMES, _json_keys(conn, "raw_output", where, args))
            writtens = _names(SETPOINT_NAMES, _json_keys(conn, "written", where, args))
            header = ["time_s", "run_id", "cycle", "mode", "source", "wrote", "model_sha256", "latency_ms",
                      *(f"point_{n}" for n in points), *(f"raw_{n}" for n in raws), "raw_error",
                      *(f"written_{n}" for n in writtens), "interventions"]
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            n_rows = 0
            cur = conn.execute(f"SELECT {_DECISION_COLUMNS} FROM decisions AS d{where} "
                               "ORDER BY d.time_s ASC, d.id ASC", args)
            for row in cur:
                writer.writerow(_csv_row(_decode_decision(row), points, raws, writtens))
                n_rows += 1
        return n_rows

    # --- lifetime -----------------------------------------------------------------
    def close(self) -> None:
        """Close the writer connection (idempotent); later calls raise :class:`AuditError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditStore({str(self.path)!r}{', closed' if self._closed else ''})"


# --- encoding -------------------------------------------------------------------------
def _check_time(name: str, value: float | None) -> None:
    if value is not None and not math.isfinite(float(value)):
        raise AuditError(f"{name} is {value}: a finite unix time (s) is needed")


def _where(since_s: float | None, until_s: float | None, run_id: str | None,
           table: str = "d") -> tuple[str, list[object]]:
    """SQL ``WHERE`` clause (or ``""``) and its arguments for a time window and a run."""
    _check_time("since_s", since_s)
    _check_time("until_s", until_s)
    clauses: list[str] = []
    args: list[object] = []
    if since_s is not None:
        clauses.append(f"{table}.time_s >= ?")
        args.append(float(since_s))
    if until_s is not None:
        clauses.append(f"{table}.time_s < ?")
        args.append(float(until_s))
    if run_id is not None:
        clauses.append(f"{table}.run_id = ?")
        args.append(run_id)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _nonfinite_tag(value: object) -> str | None:
    """``"nan"``, ``"inf"`` or ``"-inf"`` for a non-finite number, else ``None``."""
    if value is None or isinstance(value, str | bool):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return None


def _plain(value: object) -> object:
    """``value`` as JSON data: non-finite floats become ``None``, types JSON cannot hold their ``repr``."""
    return json_safe(value, unknown=repr)


def _encode_floats(values: Mapping[str, object]) -> tuple[dict[str, object], dict[str, str]]:
    """A mapping as JSON data plus the names of its non-finite values (``name -> "nan" | "inf" | "-inf"``)."""
    plain: dict[str, object] = {}
    flags: dict[str, str] = {}
    for key, value in values.items():
        name = str(key)
        plain[name] = _plain(value)
        tag = _nonfinite_tag(value)
        if tag is not None:
            flags[name] = tag
    return plain, flags


def _decode_floats(plain: Mapping[str, Any], flags: Mapping[str, str]) -> dict[str, Any]:
    return {k: float(flags[k]) if k in flags else v for k, v in plain.items()}


def _dumps(value: object) -> str:
    return json.dumps(_plain(value), allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def _decode_decision(row: Sequence[Any]) -> DecisionRecord:
    """A ``decisions`` row (columns in ``_DECISION_COLUMNS`` order) as a record."""
    (run_id, cycle, time_s, mode, source, points, raw_output, written, interventions, nonfinite,
     model_sha256, latency_ms, wrote) = row
    flags = json.loads(nonfinite)
    raw = None if raw_output is None else json.loads(raw_output)
    if isinstance(raw, dict):
        raw = _decode_floats(raw, flags.get("raw_output", {}))
    return DecisionRecord(
        cycle=int(cycle), run_id=run_id, time_s=float(time_s), mode=mode, source=source,
        points=_decode_floats(json.loads(points), flags.get("points", {})),
        raw_output=raw,
        written=None if written is None else _decode_floats(json.loads(written), flags.get("written", {})),
        interventions=json.loads(interventions), model_sha256=model_sha256,
        latency_ms=math.nan if latency_ms is None else float(latency_ms), wrote=bool(wrote),
    )


def _json_keys(conn: sqlite3.Connection, column: str, where: str, args: Sequence[object]) -> set[str]:
    """Every key of the JSON objects in ``decisions.<column>`` within the selection."""
    type_check = f"json_type(d.{column}) = 'object'"
    clause = f"{where} AND {type_check}" if where else f" WHERE {type_check}"
    rows = conn.execute(f"SELECT DISTINCT j.key FROM decisions AS d, json_each(d.{column}) AS j{clause}", args)
    return {str(key) for (key,) in rows}


def _json_number(column: str, path: str) -> str:
    """SQL for the number at ``path`` (a bound JSON path) in a JSON column, or NULL where it is anything else."""
    return (f"CASE WHEN json_type({column}, {path}) IN ('integer', 'real') "
            f"THEN json_extract({column}, {path}) END")


def _float(value: object) -> float | None:
    """An aggregate read back from SQLite: a float, or ``None`` for NULL."""
    return None if value is None else float(value)  # type: ignore[arg-type]


def _names(known: Sequence[str], seen: set[str]) -> list[str]:
    """Contract names in contract order, then any others seen, sorted."""
    return [*known, *sorted(seen - set(known))]


def _csv_row(rec: DecisionRecord, points: Sequence[str], raws: Sequence[str], writtens: Sequence[str]) -> list[object]:
    """One decision as a CSV row, in :meth:`AuditStore.export_csv`'s column order."""
    raw = rec.raw_output if isinstance(rec.raw_output, Mapping) else {}
    written = rec.written or {}
    return [
        _cell(rec.time_s), rec.run_id, rec.cycle, rec.mode, rec.source, "true" if rec.wrote else "false",
        _cell(rec.model_sha256), _cell(rec.latency_ms),
        *(_cell(rec.points.get(n)) for n in points),
        *(_cell(raw.get(n)) for n in raws),
        rec.raw_output if isinstance(rec.raw_output, str) else "",
        *(_cell(written.get(n)) for n in writtens),
        ";".join(f"{i.get('reason', '')}:{i.get('target', '')}" for i in rec.interventions),
    ]


def _cell(value: object) -> object:
    """A CSV cell: ``repr`` for floats (exact, ``nan``/``inf`` included), empty for ``None``."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value
