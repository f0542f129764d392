"""Row seals: the audit chain covers the content of the business rows, not only the actions.

Whenever a transaction of this process inserts, updates or deletes a row of a tracked table
(plans and their versions, events and comments, frameworks, filings received and sent, the
ledger, reports, their values and narratives, reports received), the commit appends **one**
``rows.seal`` entry to the audit chain listing, for each such row, its seal::

    after = {"v": 1, "tables": {"<table>": {
        "columns": ["<column>", ...],              # sorted: the order of the fingerprints
        "rows": {"<key>": "<seal>" | None},        # None: the row was deleted
        "prev": {"<key>": "<seal>" | None}}}}      # (only for rows that existed before)

``<key>`` is the primary key (the value; a JSON array for a composite key). ``<seal>`` is the
row's SHA-256 digest (64 hex digits) followed by a one-byte fingerprint (2 hex digits, CRC-32)
of each column in ``columns`` order: the digest is the proof, the fingerprints only say which
field(s) differ. The digest is over the canonical JSON (sorted keys, no whitespace, UTF-8) of
the row's non-null columns, values normalised so that they read back identically from SQLite
and PostgreSQL: datetimes as UTC with microseconds and ``Z``, dates ISO, integral floats as
integers, JSON columns with sorted keys. A column added later that is still NULL does not
change old digests; a migration that rewrites tracked rows must seal them again
(:func:`seal_all`).

A seal must be exactly what ``verify`` will recompute from the row as stored. It is computed
from the values written (bulk-insert parameters, the flushed object, an UPDATE's SET values)
only when every value is of a type that provably reads back as itself on both databases
(``Spec.seal_of_insert``; tests/audit/test_audit_seals.py checks awkward values on both); otherwise
the row is read back at commit (one SELECT per table). ``prev`` is the seal of a row as stored
before the transaction first changed it (read before the UPDATE/DELETE runs): ``verify``
compares it with the row's previous seal, so an edit made behind the application's back is
still named after the application has legitimately updated (and re-sealed) the row.

What is noticed: ORM flushes (``session.add``, attribute changes, ``session.delete``) and ORM
DML statements (``session.execute(insert(Model), rows)`` — the ingest path's bulk inserts —,
``update(Model)``, ``delete(Model)``), on any ``Session`` of the process. Plain SQL text and
other connections are, by design, *not* noticed: that is what ``plansync audit verify`` finds.
Not supported (the rows would be reported as unsealed): DML bulk inserts that leave the primary
key to the database, and the legacy ``Session.bulk_save_objects`` family.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    event,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, attributes
from sqlalchemy.sql.elements import BindParameter

from node.audit.service import append, last_actor
from node.models import (
    Filing,
    Framework,
    LedgerEntry,
    Plan,
    PlanComment,
    PlanEvent,
    PlanVersion,
    ReceivedReport,
    Report,
    ReportNarrative,
    ReportValue,
    SentFiling,
    UTCDateTime,
)

ACTION = "rows.seal"
FORMAT = 1
TRACKED_MODELS: tuple[type[Any], ...] = (
    Plan, PlanVersion, PlanEvent, PlanComment, Framework, Filing, SentFiling, LedgerEntry,
    Report, ReportValue, ReportNarrative, ReceivedReport,
)
CHUNK = 500  # primary keys per SELECT ... IN (...)
ENTRY_ROWS = 5000  # rows per rows.seal entry when sealing a whole table (migrations)
_INFO = "plansync.row_seals"


# ---- the digest ---------------------------------------------------------------------------

_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                         allow_nan=False).encode
_jstr: Callable[[str], str] = encode_basestring  # a str as JSON (C), as json.dumps does
_EXACT = 2 ** 53


def _num(v: float) -> str:
    if v != v or v in (float("inf"), float("-inf")):
        return _jstr(repr(v))
    if v.is_integer() and -_EXACT < v < _EXACT:
        return str(int(v))
    return repr(v)


def encode(v: Any) -> str:
    """One column value as canonical JSON text (see the module docstring)."""
    if v is None:
        return "null"
    t = type(v)
    if t is str:
        return _jstr(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return _num(v)
    if t is datetime:
        dt: datetime = v
        if dt.tzinfo is not UTC:
            dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        return '"' + dt.isoformat(timespec="microseconds")[:-6] + 'Z"'  # minus "+00:00"
    if t is date:
        d: date = v
        return '"' + d.isoformat() + '"'
    if isinstance(v, dict | list | tuple):
        try:
            return _json(v)
        except (TypeError, ValueError):  # NaN, or keys that do not sort: still deterministic
            return _jstr(repr(v))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return _num(float(v))
    if isinstance(v, Decimal):
        if v.is_finite() and v == v.to_integral_value() and abs(v) < _EXACT:
            return str(int(v))
        return _jstr(str(v.normalize()))
    if isinstance(v, datetime | date | time):
        return _jstr(v.isoformat())
    if isinstance(v, bytes | bytearray | memoryview):
        return '"' + bytes(v).hex() + '"'
    return _jstr(str(v))


def _pk_type(col: Column[Any]) -> type:
    try:
        t = col.type.python_type
    except NotImplementedError:
        return object
    return t if t in (int, str) else object


def _kind(col: Column[Any]) -> str:
    t = col.type
    if isinstance(t, UTCDateTime):
        return "datetime"
    for kind, types in (("bool", Boolean), ("int", Integer), ("float", Float), ("date", Date),
                        ("str", String), ("json", JSON)):
        if isinstance(t, types) and not isinstance(t, DateTime):
            return kind
    return "other"


def _plain_json(v: Any) -> bool:
    """A JSON value that reads back as itself (str keys, finite floats, exact integers)."""
    t = type(v)
    if v is None or t is str or t is bool:
        return True
    if t is int:
        return bool(-_EXACT < v < _EXACT)
    if t is float:
        return bool(v == v and v not in (float("inf"), float("-inf")))
    if t is list or t is tuple:
        return all(_plain_json(x) for x in v)
    if t is dict:
        return all(type(k) is str and _plain_json(x) for k, x in v.items())
    return False


_FITS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: type(v) is int and -(2 ** 63) <= v < 2 ** 63,
    "float": lambda v: (type(v) is float and v == v and v not in (float("inf"), float("-inf")))
    or (type(v) is int and -_EXACT < v < _EXACT),
    "str": lambda v: type(v) is str and "\x00" not in v,
    "datetime": lambda v: type(v) is datetime and v.tzinfo is not None,
    "date": lambda v: type(v) is date,
    "bool": lambda v: type(v) is bool,
    "json": _plain_json,
}


@dataclass(frozen=True)
class Spec:
    """How one tracked table is sealed: its columns in name order and its primary key."""

    table: Table
    columns: tuple[Column[Any], ...]
    names: tuple[str, ...]
    pk: tuple[Column[Any], ...]
    pk_index: tuple[int, ...]  # positions of the primary key in ``columns``
    prefixes: tuple[str, ...]  # '"<name>":'
    kinds: tuple[str, ...]
    defaulted: frozenset[str]  # columns the database or SQLAlchemy fill when not given
    pk_types: tuple[type, ...]  # int or str (what the database returns), else object
    onupdate: bool  # a column the database or SQLAlchemy set on UPDATE
    fits: tuple[Callable[[Any], bool] | None, ...]  # per column: reads back as itself?

    @classmethod
    def of(cls, table: Table, columns: Iterable[Column[Any]] | None = None) -> Spec:
        cols = tuple(sorted(columns if columns is not None else table.c, key=lambda c: c.name))
        pk = tuple(table.primary_key.columns)
        names = tuple(c.name for c in cols)
        assert all(n.isidentifier() for n in names)
        return cls(table, cols, names, pk, tuple(names.index(c.name) for c in pk),
                   tuple(f'"{n}":' for n in names), tuple(_kind(c) for c in cols),
                   frozenset(c.name for c in cols if c.default is not None
                             or c.server_default is not None or c.autoincrement is True),
                   tuple(_pk_type(c) for c in pk),
                   any(c.onupdate is not None or c.server_onupdate is not None for c in cols),
                   tuple(_FITS.get(_kind(c)) for c in cols))

    @property
    def name(self) -> str:
        return self.table.name

    def key(self, values: Sequence[Any]) -> str:
        """The primary key of a row (values in ``columns`` order) as the chain names it."""
        return key_of([values[i] for i in self.pk_index])

    def seal(self, values: Sequence[Any]) -> str:
        """Digest and field fingerprints of a row (values in ``columns`` order)."""
        encs = list(map(encode, values))
        if len(encs) != len(self.names):
            raise ValueError(f"{self.name}: {len(encs)} values for {len(self.names)} columns")
        fps = bytes([zlib.crc32(e.encode("utf-8", "surrogatepass")) & 0xff for e in encs])
        body = ",".join([p + e for p, e in zip(self.prefixes, encs, strict=True)
                         if e != "null"])
        return hashlib.sha256(("{" + body + "}").encode("utf-8", "surrogatepass")
                              ).hexdigest() + fps.hex()

    def seal_of_insert(self, params: dict[str, Any], complete: bool = False) -> str | None:
        """The seal a row with these column values has when read back, without reading it
        back; None unless that is certain: every value of a type that reads back as itself,
        and no column left to a default (with ``complete``, no column missing at all)."""
        try:
            values = [params[n] for n in self.names]
        except KeyError:
            if complete or any(n in self.defaulted for n in self.names if n not in params):
                return None
            values = [params.get(n) for n in self.names]
        for fits, v in zip(self.fits, values, strict=True):
            if v is not None and (fits is None or not fits(v)):
                return None
        return self.seal(values)


def key_of(pk: Sequence[Any]) -> str:
    if len(pk) == 1:
        return str(pk[0])
    return json.dumps(list(pk), ensure_ascii=False, separators=(",", ":"), default=str)


SPECS: dict[str, Spec] = {m.__table__.name: Spec.of(m.__table__) for m in TRACKED_MODELS}
# bulk-insert parameters are keyed by attribute: tracked models name attributes as columns
assert all(m.__mapper__.get_property_by_column(c).key == c.name
           for m in TRACKED_MODELS for c in m.__table__.c)
_BY_TABLE: dict[Table, Spec] = {s.table: s for s in SPECS.values()}


def fields_differing(columns: Sequence[str], sealed: str, spec: Spec, values: Sequence[Any],
                     ) -> list[str]:
    """The columns whose fingerprint differs between a seal made with ``columns`` and the row
    as it is now (a changed field has a 1/256 chance of keeping its fingerprint)."""
    now = dict(zip(spec.names, (fp for fp in _fps(spec.seal(values))), strict=True))
    old = dict(zip(columns, _fps(sealed), strict=False))
    out = [c for c, fp in old.items() if now.get(c, "__") != fp]
    null_fp = f"{zlib.crc32(b'null') & 0xff:02x}"
    out += [c for c, fp in now.items() if c not in old and fp != null_fp]  # columns added since
    return out


def _fps(seal: str) -> list[str]:
    return [seal[i:i + 2] for i in range(64, len(seal), 2)]


# ---- noticing what the application writes -----------------------------------------------


@dataclass
class _Pending:
    """The tracked rows this transaction wrote.

    ``touched``: primary key -> the seal of the row as stored before the transaction first
    changed it (None: new in this transaction). ``known``: primary key -> the row's seal now,
    where it is certain without reading the row back (None: deleted); rows touched but not
    known are read back at commit."""

    txn: Any
    touched: dict[str, dict[tuple[Any, ...], str | None]] = field(default_factory=dict)
    known: dict[str, dict[tuple[Any, ...], str | None]] = field(default_factory=dict)
    inserted: set[tuple[str, tuple[Any, ...]]] = field(default_factory=set)

    def note(self, spec: Spec, pk: tuple[Any, ...], prev: str | None,
             now: str | None | _Unknown = None) -> None:
        """``prev`` counts only the first time a row is noted in the transaction; ``now`` is
        its seal after this change (UNKNOWN: read it back at commit)."""
        rows = self.touched.setdefault(spec.name, {})
        if pk not in rows:
            rows[pk] = prev
        known = self.known.setdefault(spec.name, {})
        if isinstance(now, _Unknown):
            known.pop(pk, None)
        else:
            known[pk] = now

    def seen(self, spec: Spec, pk: tuple[Any, ...]) -> bool:
        return pk in self.touched.get(spec.name, ())


class _Unknown:
    pass


UNKNOWN = _Unknown()


def _pending(session: Session, create: bool = True) -> _Pending | None:
    txn = session.get_transaction()
    st: _Pending | None = session.info.get(_INFO)
    if st is not None and st.txn is not txn:
        st = None
        session.info.pop(_INFO, None)
    if st is None and create and txn is not None:
        st = session.info[_INFO] = _Pending(txn)
    return st


def _spec_of(obj: Any) -> Spec | None:
    table = getattr(type(obj), "__table__", None)
    return _BY_TABLE.get(table) if isinstance(table, Table) else None


def _pk_of(spec: Spec, pk: Iterable[Any]) -> tuple[Any, ...]:
    """A primary key as the database will return it (the application may pass "1" for 1)."""
    return tuple(v if t is object or v is None or type(v) is t else t(v)
                 for t, v in zip(spec.pk_types, pk, strict=True))


def _stored(session: Session, spec: Spec, crit: Any) -> Iterator[Sequence[Any]]:
    yield from session.connection().execute(select(*spec.columns).where(crit))


def _object_seal(spec: Spec, obj: Any, inserted: bool) -> str | _Unknown:
    """The seal of an object just flushed, from its attributes, when that is certain. An
    attribute never set on an object this transaction inserted is NULL unless the column has a
    default; on a loaded object, or once expired, it is unknown."""
    state = attributes.instance_state(obj)
    if state.expired_attributes:
        return UNKNOWN
    seal = spec.seal_of_insert(state.dict, complete=not inserted)
    return UNKNOWN if seal is None else seal


def _before_flush(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    """Rows about to be updated or deleted for the first time in this transaction: their
    seal as stored before (one SELECT per table)."""
    st: _Pending | None = None
    wanted: dict[str, list[tuple[Any, ...]]] = {}
    for obj in (*session.dirty, *session.deleted):
        spec = _spec_of(obj)
        if spec is None or obj in session.new:
            continue
        if obj not in session.deleted and not session.is_modified(obj,
                                                                  include_collections=False):
            continue
        ident = attributes.instance_state(obj).identity
        if ident is None:
            continue
        pk = _pk_of(spec, ident)
        st = st or _pending(session)
        if st is not None and not st.seen(spec, pk):
            wanted.setdefault(spec.name, []).append(pk)
    if st is None:
        return
    for name, pks in wanted.items():
        spec = SPECS[name]
        for i in range(0, len(pks), CHUNK):
            chunk = pks[i:i + CHUNK]
            found = {spec.key(v): spec.seal(v) for v in _stored(session, spec,
                                                                 _pk_in(spec, chunk))}
            for pk in chunk:
                # (not stored: deleted behind the application's back; the flush will fail)
                st.note(spec, pk, found.get(key_of(pk)), UNKNOWN)


def _after_flush(session: Session, _ctx: UOWTransaction) -> None:
    """Rows just inserted, updated or deleted: their seal now, from the objects."""
    st: _Pending | None = None
    for objs, kind in ((session.new, "new"), (session.dirty, "dirty"),
                       (session.deleted, "deleted")):
        for obj in objs:
            spec = _spec_of(obj)
            if spec is None:
                continue
            if kind == "dirty" and not session.is_modified(obj, include_collections=False):
                continue
            st = st or _pending(session)
            if st is None:
                return
            state = attributes.instance_state(obj)
            pk = _pk_of(spec, state.identity if kind != "new" and state.identity is not None
                        else obj.__mapper__.primary_key_from_instance(obj))
            if kind == "new":
                st.inserted.add((spec.name, pk))
            st.note(spec, pk, None, None if kind == "deleted" else _object_seal(
                spec, obj, (spec.name, pk) in st.inserted))


def _set_values(spec: Spec, stmt: Any) -> dict[str, Any] | None:
    """UPDATE ... SET column = <plain value>, ...: {column: value}; None if anything else."""
    out: dict[str, Any] = {}
    for k, v in (getattr(stmt, "_values", None) or {}).items():
        name = getattr(k, "name", None) or getattr(k, "key", None) or k
        if not isinstance(name, str) or name not in spec.names or not isinstance(v, BindParameter):
            return None
        out[name] = v.effective_value
    return out if out and not spec.onupdate else None


def _do_orm_execute(state: ORMExecuteState) -> None:
    """ORM DML statements: bulk inserts (the ingest path), UPDATE and DELETE by criteria."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    spec = _BY_TABLE.get(table) if isinstance(table, Table) else None
    if spec is None:
        return
    st = _pending(state.session)
    if st is None:
        return
    names = [c.key for c in spec.pk]
    params = state.parameters
    plist: list[Any] = (list(params) if isinstance(params, list | tuple)
                        else [params] if params else [])
    if state.is_insert:
        if not plist:  # insert(Model).values(...)
            plist = [state.statement.compile().params]  # type: ignore[attr-defined]
        for p in plist:
            if all(n in p for n in names):
                # (an upsert may have kept part of an existing row: read it back)
                seal = (None if getattr(state.statement, "_post_values_clause", None) is not None
                        else spec.seal_of_insert(p))
                pk = _pk_of(spec, (p[n] for n in names))
                st.note(spec, pk, None, UNKNOWN if seal is None else seal)
        return
    # UPDATE/DELETE: the rows it will change, as they are stored before it runs
    where = getattr(state.statement, "whereclause", None)
    sets = _set_values(spec, state.statement) if state.is_update and not plist else None
    if where is None and plist and all(all(n in p for n in names) for p in plist):
        where = _pk_in(spec, [_pk_of(spec, (p[n] for n in names)) for p in plist])
    stmt = select(*spec.columns)
    if where is not None:
        stmt = stmt.where(where)
    if sets is not None and all(spec.kinds[spec.names.index(n)] != "json" for n in sets):
        # rows it leaves as they are need no new seal (PostgreSQL cannot compare JSON)
        stmt = stmt.where(or_(*(spec.table.c[n].is_distinct_from(v) for n, v in sets.items())))
    for values in state.session.connection().execute(stmt):
        pk = tuple(values[i] for i in spec.pk_index)
        now: str | None | _Unknown = None if state.is_delete else UNKNOWN
        if sets is not None:
            after = dict(zip(spec.names, values, strict=True)) | sets
            now = spec.seal_of_insert(after, complete=True) or UNKNOWN
        st.note(spec, pk, None if st.seen(spec, pk) else spec.seal(values), now)


def _pk_in(spec: Spec, pks: list[tuple[Any, ...]]) -> Any:
    if len(spec.pk) == 1:
        return spec.pk[0].in_([p[0] for p in pks])
    return tuple_(*spec.pk).in_(pks)


def seal_keys(conn: Connection, touched: dict[str, dict[tuple[Any, ...], str | None]],
              known: dict[str, dict[tuple[Any, ...], str | None]] | None = None
              ) -> dict[str, Any]:
    """The ``tables`` part of a rows.seal entry for these rows: their ``known`` seal, or
    else read as stored now (one SELECT per table)."""
    out: dict[str, Any] = {}
    for name in sorted(touched):
        spec, wanted = SPECS[name], touched[name]
        if not wanted:
            continue
        have = (known or {}).get(name, {})
        found: dict[str, str | None] = {key_of(pk): seal for pk, seal in have.items()}
        pks = [pk for pk in wanted if pk not in have]
        for i in range(0, len(pks), CHUNK):
            for values in conn.execute(select(*spec.columns)
                                       .where(_pk_in(spec, pks[i:i + CHUNK]))):
                found[spec.key(values)] = spec.seal(values)
        rows: dict[str, str | None] = {}
        prev: dict[str, str | None] = {}
        for pk, before in wanted.items():
            k = key_of(pk)
            rows[k] = found.get(k)
            if before is not None:
                prev[k] = before
        entry: dict[str, Any] = {"columns": list(spec.names), "rows": rows}
        if prev:
            entry["prev"] = prev
        out[name] = entry
    return out


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # the commit itself would flush what is left only after this hook
    st = _pending(session, create=False)
    if st is None or not st.touched:
        return
    touched, known, st.touched, st.known = st.touched, st.known, {}, {}
    tables = seal_keys(session.connection(), touched, known)
    n = sum(len(t["rows"]) for t in tables.values())
    if n:
        append(session, actor=last_actor(session) or "system", action=ACTION, entity="rows",
               entity_id="+".join(tables)[:120], after={"v": FORMAT, "tables": tables})


def _after_end(session: Session, txn: Any) -> None:
    if txn.parent is None:
        session.info.pop(_INFO, None)


def _after_soft_rollback(session: Session, previous: Any) -> None:
    """A savepoint rolled back: what it wrote is undone, so read every row back at commit."""
    st = _pending(session, create=False)
    if st is not None and previous.nested:
        st.known.clear()


_REGISTERED = False


def register() -> None:
    """Listen on every ORM session of this process (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _do_orm_execute)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_transaction_end", _after_end)
    event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    _REGISTERED = True


register()


# ---- sealing what is there (migrations) ---------------------------------------------------


def seal_all(conn: Connection, *, actor: str, tables: Iterable[str] | None = None) -> int:
    """Seal every row of the tracked tables as it is now (e.g. the rows a database already had
    when sealing began), in rows.seal entries of at most ENTRY_ROWS rows. Only columns that
    exist in the database are read, so this works in any later migration too."""
    from sqlalchemy import inspect

    insp = inspect(conn)
    present = set(insp.get_table_names())
    names = [n for n in (tables or SPECS) if n in present]
    session = Session(bind=conn)
    n = 0
    try:
        for name in names:
            have = {c["name"] for c in insp.get_columns(name)}
            spec = Spec.of(SPECS[name].table,
                           [c for c in SPECS[name].table.c if c.name in have])
            for chunk in _chunks(conn.execute(select(*spec.columns)), ENTRY_ROWS):
                rows = {spec.key(v): spec.seal(v) for v in chunk}
                append(session, actor=actor, action=ACTION, entity="rows", entity_id=name,
                       after={"v": FORMAT, "tables": {name: {"columns": list(spec.names),
                                                             "rows": rows}}})
                n += len(rows)
        session.flush()
    finally:
        session.close()
    return n


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    buf: list[Any] = []
    for r in rows:
        buf.append(r)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


# ---- verifying ------------------------------------------------------------------------------


@dataclass
class RowProblem:
    table: str
    key: str
    problem: str  # changed | unsealed | deleted | changed_before_update | sealed_as_deleted
    fields: list[str] = field(default_factory=list)
    audit_id: int | None = None  # the rows.seal entry concerned

    def __str__(self) -> str:
        f = f" ({', '.join(self.fields)})" if self.fields else ""
        at = f" audit row {self.audit_id}" if self.audit_id else ""
        what = {
            "changed": f"content changed{f} since it was sealed in{at}",
            "unsealed": "no seal: written behind the application's back",
            "deleted": f"row deleted behind the application's back (sealed in{at})",
            "sealed_as_deleted": f"row present although{at} records it as deleted",
            "changed_before_update":
                f"content had been changed{f} behind the application's back before"
                f"{at} updated it",
        }[self.problem]
        return f"{self.table} {self.key}: {what}"


@dataclass
class _Sealed:
    seal: str | None
    audit_id: int
    columns: list[str]


class SealIndex:
    """The newest seal of every row, gathered while the chain is walked in order."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, _Sealed]] = {name: {} for name in SPECS}
        self.problems: list[RowProblem] = []
        self.malformed: list[int] = []

    def add(self, audit_id: int, after: Any) -> None:
        try:
            tables = after["tables"]
            items = [(name, t["columns"], t["rows"], t.get("prev") or {})
                     for name, t in tables.items()]
        except (TypeError, KeyError, AttributeError):
            self.malformed.append(audit_id)
            return
        for name, columns, rows, prev in items:
            known = self.rows.setdefault(name, {})
            spec = SPECS.get(name)
            for k, before in prev.items():
                old = known.get(k)
                if old is None or old.seal is None:
                    self.problems.append(RowProblem(name, k, "changed_before_update",
                                                    audit_id=audit_id,
                                                    fields=["no earlier seal"]))
                elif before is None or old.seal[:64] != before[:64]:
                    fields = (_fields_between(old.columns, old.seal, columns, before)
                              if before is not None and spec is not None else [])
                    self.problems.append(RowProblem(name, k, "changed_before_update", fields,
                                                    audit_id))
            for k, seal in rows.items():
                known[k] = _Sealed(seal, audit_id, columns)


def _fields_between(cols_a: list[str], seal_a: str, cols_b: list[str], seal_b: str
                    ) -> list[str]:
    a = dict(zip(cols_a, _fps(seal_a), strict=False))
    b = dict(zip(cols_b, _fps(seal_b), strict=False))
    return [c for c in b if a.get(c) != b[c]] + [c for c in a if c not in b]


async def check_rows(session: AsyncSession, index: SealIndex) -> tuple[int, list[RowProblem]]:
    """Compare every row of every tracked table (one SELECT each) with its newest seal."""
    problems = list(index.problems)
    checked = 0
    for name, spec in SPECS.items():
        sealed = dict(index.rows.get(name, {}))
        result = await session.stream(select(*spec.columns))
        async for values in result:
            checked += 1
            k = spec.key(values)
            s = sealed.pop(k, None)
            if s is None:
                problems.append(RowProblem(name, k, "unsealed"))
                continue
            if s.seal is None:
                problems.append(RowProblem(name, k, "sealed_as_deleted", audit_id=s.audit_id))
                continue
            seal = spec.seal(values)
            if seal[:64] != s.seal[:64]:
                problems.append(RowProblem(name, k, "changed",
                                           fields_differing(s.columns, s.seal, spec, values),
                                           s.audit_id))
        for k, s in sealed.items():
            if s.seal is not None:
                problems.append(RowProblem(name, k, "deleted", audit_id=s.audit_id))
    problems.sort(key=lambda p: (p.table, p.key, p.audit_id or 0))
    return checked, problems
