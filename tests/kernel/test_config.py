from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.config import ConfigError, Settings, build_config, load_config


def base(**kw: object) -> dict[str, object]:
    d: dict[str, object] = {"code": "150603", "name": "康巴什区", "level": "county",
                            "base_url": "http://127.0.0.1:8003",
                            "parent_url": "http://127.0.0.1:8002",
                            "database_url": "sqlite+aiosqlite:///x.db", "data_dir": "d"}
    d.update(kw)
    return d


def test_valid_county() -> None:
    cfg = build_config(base())
    assert cfg.code == "150603" and cfg.timezone == "Asia/Shanghai"
    assert cfg.parent_url == "http://127.0.0.1:8002"


@pytest.mark.parametrize(("override", "needle"), [
    ({"code": "15060"}, "6-digit GB/T 2260"),
    ({"code": "abcdef"}, "6-digit GB/T 2260"),
    ({"level": "township"}, "level"),
    ({"parent_url": None}, "needs a parent: pass --parent-url"),
    ({"level": "national", "code": "000000", "parent_url": "http://x:1"}, "top of the tree"),
    ({"level": "national"}, "000000"),
    ({"database_url": "mysql://x"}, "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"),
    ({"redis_url": "http://x"}, "must start with redis://"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"base_url": "localhost:80"}, "is not an http(s) URL"),
])
def test_invalid_values_are_rejected_with_what_to_fix(override: dict[str, object],
                                                      needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        build_config(base(**override))
    assert needle in str(e.value)


def test_missing_config_file_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run `plansync init"):
        load_config(tmp_path)


def test_environment_overrides_file(tmp_path: Path) -> None:
    data = base()
    data.pop("data_dir")
    (tmp_path / "node.json").write_text(json.dumps(data), "utf-8")
    cfg = load_config(tmp_path, Settings(redis_url="redis://127.0.0.1:6379/3"))
    assert cfg.redis_url == "redis://127.0.0.1:6379/3"
    assert cfg.data_dir == tmp_path


def test_invalid_file_content_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "node.json").write_text("{not json", "utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path)
    data = base(code="1506")
    data.pop("data_dir")
    (tmp_path / "node.json").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ConfigError, match="code"):
        load_config(tmp_path)
