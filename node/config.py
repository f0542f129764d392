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

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CONFIG_FILE = "node.json"
KEY_FILE = "node_key.pem"

_CODE = re.compile(r"^[1-9]\d{5}$")


class ConfigError(Exception):
    """The node's configuration is invalid; the message says what to change."""


class Level(StrEnum):
    province = "province"
    city = "city"
    county = "county"


LEVEL_DEPTH = {Level.province: 0, Level.city: 1, Level.county: 2}


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
    sweep_interval_seconds: float = 5.0
    # key transparency: how often to ask every ancestor which key it holds for this node
    # (0 = never; the first check runs key_check_delay_seconds after start)
    key_check_interval_seconds: float = 3600.0
    key_check_delay_seconds: float = 60.0
    max_backoff_seconds: float = 600.0  # cap of the exponential retry delay
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
        if not _CODE.match(v):
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
        if self.level is Level.province and self.parent_url:
            raise ValueError("a province node is the top of the tree: remove parent_url")
        if self.level is not Level.province and not self.parent_url:
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
        """What ``init`` writes to ``node.json`` (data_dir is implied by the file's place)."""
        d = self.model_dump(mode="json", exclude={"data_dir"})
        return d


def default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'plansync.db').resolve()}"


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "config"
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "invalid node configuration:\n" + "\n".join(lines)


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
    for field in ("database_url", "redis_url", "base_url", "parent_url", "timezone"):
        value = getattr(settings, field)
        if value is not None:
            raw[field] = value
    raw.setdefault("database_url", default_database_url(ddir))
    raw["data_dir"] = str(ddir)
    return build_config(raw)


def write_config(cfg: NodeConfig) -> Path:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.data_dir / CONFIG_FILE
    path.write_text(json.dumps(cfg.public_dict(), ensure_ascii=False, indent=2) + "\n", "utf-8")
    return path
