"""Configuration: one pydantic-settings class (env prefix ``PLANSYNC_``) plus the per-node
config file ``node.json`` that ``plansync init`` writes into the data directory.

Precedence: environment variables override the file. Everything is validated once at
start-up; a bad value raises :class:`ConfigError` whose message says what to fix.
"""

from __future__ import annotations

import json
import os
import re
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CONFIG_FILE = "node.json"
KEY_FILE = "node_key.pem"

_CODE = re.compile(r"^[1-9]\d{5}$")
NATIONAL_CODE = "000000"  # the optional national level (node.divisions.NATIONAL)


class ConfigError(Exception):
    """The node's configuration is invalid; the message says what to change."""


class Level(StrEnum):
    national = "national"  # optional: 000000 国务院妇儿工委, above the provinces
    province = "province"
    city = "city"
    county = "county"


LEVEL_DEPTH = {Level.national: 0, Level.province: 1, Level.city: 2, Level.county: 3}
# the levels a node's children may have (the only ones it enrols): the national node only
# provinces; a province its cities and the counties the division tree puts directly under it
# (a municipality's districts, 省直辖县); a city its counties. A province's parent is the
# national node when there is one (a province may also be a root).
CHILD_LEVELS: dict[Level, tuple[Level, ...]] = {
    Level.national: (Level.province,), Level.province: (Level.city, Level.county),
    Level.city: (Level.county,)}


class Settings(BaseSettings):
    """Process-wide settings from the environment (prefix ``PLANSYNC_``)."""

    model_config = SettingsConfigDict(env_prefix="PLANSYNC_", extra="ignore")

    data_dir: Path = Path("plansync-data")
    database_url: str | None = None
    redis_url: str | None = None
    base_url: str | None = None
    parent_url: str | None = None
    timezone: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    # protocol limits
    max_body_bytes: int = 1_000_000
    max_batch: int = 500
    max_clock_skew_seconds: int = 300
    pull_interval_seconds: float = 30.0
    volatility_threshold: float = 0.2  # early warning: yearly swing beyond ±20%
    # the drafting workflow: consultation rounds (征求意见) a plan needs before expert review
    # (seed 000 asks for three; at most 3 are possible, node.plans.service.MAX_ROUNDS)
    min_consultation_rounds: int = Field(default=1, ge=0, le=3)
    # member units' yearly reports (成员单位年度报告) are due this many days before the
    # office's own annual report (node.units.service.unit_due)
    unit_report_lead_days: int = Field(default=30, ge=0, le=180)
    sweep_interval_seconds: float = 5.0
    # key transparency: how often to ask every ancestor which key it holds for this node
    # (0 = never; the first check runs key_check_delay_seconds after start)
    key_check_interval_seconds: float = 3600.0
    key_check_delay_seconds: float = 60.0
    max_backoff_seconds: float = 600.0  # cap of the exponential retry delay
    # `plansync enroll`: how long to wait for the parent before saying it does not answer
    enrol_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # run the in-process delivery loop as a background task (tests drive it by hand)
    delivery_loop: bool = True
    # sign-in lockout and enrolment-token limits (node.auth.limits, docs/operations.md):
    # N failures of one user name (one client address) within the window lock it out
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    enrol_max_failures: int = Field(default=10, ge=1)
    enrol_window_seconds: int = Field(default=900, ge=1)
    enrol_lockout_seconds: int = Field(default=3600, ge=1)
    # the web console: how long a sign-in lasts, and where its built files are (default: the
    # console/dist folder next to the node package, see docs/console.md)
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    console_dir: Path | None = None
    # reminders (node.reminders, docs/operations.md): the serve process checks every
    # reminder_check_seconds whether the day's digest is due; a failed send is retried
    # reminder_retry_seconds later, at most reminder_max_attempts times; the SMTP password
    # comes only from here (PLANSYNC_REMINDER_SMTP_PASSWORD), never from the database
    reminders_loop: bool = True
    reminder_check_seconds: float = Field(default=60.0, gt=0)
    reminder_max_attempts: int = Field(default=3, ge=1, le=20)
    reminder_retry_seconds: float = Field(default=300.0, ge=0)
    reminder_timeout_seconds: float = Field(default=30.0, gt=0)
    reminder_smtp_password: SecretStr | None = None
    # GET /metrics: when set, only with `Authorization: Bearer <token>` (Prometheus
    # `authorization.credentials`); unset, /metrics is open as before (docs/operations.md)
    metrics_token: SecretStr | None = None  # never shown in a repr or a log

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _metrics_token(cls, v: object) -> object:
        if v is None or v == "":
            return None  # an empty PLANSYNC_METRICS_TOKEN= (.env files): /metrics is open
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if not isinstance(raw, str) or len(raw) < 16 or raw != raw.strip():
            raise ValueError("PLANSYNC_METRICS_TOKEN must be at least 16 characters without "
                             "surrounding spaces (e.g. `openssl rand -hex 32`)")
        return v


class NodeConfig(BaseModel):
    """The validated configuration of one node."""

    code: str
    name: str
    level: Level
    base_url: str
    parent_url: str | None = None
    database_url: str
    redis_url: str | None = None
    timezone: str = "Asia/Shanghai"
    data_dir: Path

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if v != NATIONAL_CODE and not _CODE.match(v):
            raise ValueError(
                f"node code {v!r} must be a 6-digit GB/T 2260 division code such as 150603"
            )
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("node name must not be empty (e.g. 康巴什区)")
        return v.strip()

    @field_validator("base_url", "parent_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL such as http://127.0.0.1:8000")
        return v.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError(
                f"database URL {v!r} must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        assert v is not None
        if not v.startswith(("redis://", "rediss://")):
            raise ValueError(f"Redis URL {v!r} must start with redis://")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name like Asia/Shanghai"
            ) from None
        return v

    @model_validator(mode="after")
    def _parent(self) -> NodeConfig:
        national = self.level is Level.national
        if national and self.code != NATIONAL_CODE:
            raise ValueError(f"the national node's code is {NATIONAL_CODE} (国务院妇儿工委), "
                             f"not {self.code}")
        if not national and self.code == NATIONAL_CODE:
            raise ValueError(f"code {NATIONAL_CODE} is the national level: pass --level national")
        if national and self.parent_url:
            raise ValueError("the national node is the top of the tree: remove parent_url")
        # a province is a root, or enrols under the national node (parent_url); below it a
        # parent is required
        if self.level in (Level.city, Level.county) and not self.parent_url:
            raise ValueError(
                f"a {self.level.value} node needs a parent: pass --parent-url "
                "(the base URL of the office one level up) to plansync init"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def key_path(self) -> Path:
        return self.data_dir / KEY_FILE

    def public_dict(self) -> dict[str, object]:
        """What ``init`` writes to ``node.json`` (data_dir is implied by the file's place).
        A SQLite file inside the data directory is stored relative to it, so a copied or
        restored directory uses its own database (:func:`relative_database_url`)."""
        d = self.model_dump(mode="json", exclude={"data_dir"})
        d["database_url"] = relative_database_url(self.database_url, self.data_dir)
        return d


SQLITE_PREFIX = "sqlite+aiosqlite:///"


def default_database_url(data_dir: Path) -> str:
    return f"{SQLITE_PREFIX}{(data_dir / 'plansync.db').resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL (None for other databases and ``:memory:``)."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = url[len(SQLITE_PREFIX):].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def _query(url: str) -> str:
    return "?" + url.split("?", 1)[1] if "?" in url else ""


def relative_database_url(url: str, data_dir: Path) -> str:
    """``url`` as ``node.json`` stores it: a SQLite file inside ``data_dir`` becomes a path
    relative to it (``sqlite+aiosqlite:///plansync.db``); anything else is kept as is."""
    path = sqlite_path(url)
    if path is None or not path.is_absolute():
        return url
    try:
        rel = path.resolve().relative_to(data_dir.resolve())
    except ValueError:
        return url
    return SQLITE_PREFIX + rel.as_posix() + _query(url)


def _stored_database_url(url: str, ddir: Path) -> tuple[str, bool]:
    """The database URL ``node.json`` in ``ddir`` stores, made absolute for this process,
    and whether the file should be rewritten in the relative form. A relative SQLite path is
    relative to the data directory. An absolute one written by an older plansync is kept
    when it points inside this directory or outside any data directory; one that points into
    *another* data directory (one holding a ``node.json``: this directory is a copy) is
    replaced by the file of the same name here — a copy never writes to the original."""
    path = sqlite_path(url)
    if path is None:
        return url, False
    root = ddir.resolve()
    rest = _query(url)
    if not path.is_absolute():
        return f"{SQLITE_PREFIX}{root / path}{rest}", False
    try:
        path.resolve().relative_to(root)
        return url, True
    except ValueError:
        pass
    in_other_data_dir = (path.parent / CONFIG_FILE).exists()
    original_gone = not path.exists() and (root / path.name).exists()
    if in_other_data_dir or original_gone:
        return f"{SQLITE_PREFIX}{root / path.name}{rest}", True
    return url, False


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "config"
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return "invalid node configuration: " + "; ".join(lines)


def build_config(data: dict[str, object]) -> NodeConfig:
    """Validate raw values into a :class:`NodeConfig` or raise :class:`ConfigError`."""
    try:
        return NodeConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format(e)) from None


def resolve_data_dir(data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir
    return Path(os.environ.get("PLANSYNC_DATA_DIR") or "plansync-data")


def load_config(data_dir: Path | None = None, settings: Settings | None = None) -> NodeConfig:
    """Read ``node.json`` from the data directory, apply environment overrides, validate."""
    settings = settings or Settings()
    ddir = resolve_data_dir(data_dir)
    path = ddir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(
            f"no node configuration at {path}: run `plansync init --code CODE --name NAME "
            f"--level LEVEL --data-dir {ddir}` first"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); fix or re-run plansync init") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    migrate = False
    if isinstance(raw.get("database_url"), str):
        raw["database_url"], migrate = _stored_database_url(raw["database_url"], ddir)
    on_disk = {k: v for k, v in raw.items() if k != "data_dir"}
    for field in ("database_url", "redis_url", "base_url", "parent_url", "timezone"):
        value = getattr(settings, field)
        if value is not None:
            raw[field] = value
    raw.setdefault("database_url", default_database_url(ddir))
    raw["data_dir"] = str(ddir)
    cfg = build_config(raw)
    if migrate:  # an older absolute path: store it relative (only that key changes)
        try:
            _write(path, {**on_disk, "database_url": relative_database_url(
                str(on_disk["database_url"]), ddir)})
        except OSError:
            pass  # a read-only directory keeps working; the next `init --force` rewrites it
    return cfg


def _write(path: Path, data: dict[str, object]) -> None:
    """Replace ``path`` atomically (a crash never leaves half a node.json)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
    tmp.replace(path)


def write_config(cfg: NodeConfig) -> Path:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.data_dir / CONFIG_FILE
    _write(path, cfg.public_dict())
    return path
