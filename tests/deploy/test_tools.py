"""A tool the deploy checks need (kubectl, systemd-analyze) that is missing: skipped and listed
loudly in the summary; with CI=true, a failure."""

from __future__ import annotations

import shutil

import pytest

from tests import services
from tests.deploy.tools import need


def test_missing_tool_skips_loudly_or_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(services, "SKIPPED", {})
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="kubectl"):
        need("kubectl", "/usr/bin/kubectl")
    assert "kubectl" in services.SKIPPED  # the loud summary at the end of the run
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        need("kubectl", "/usr/bin/kubectl")


def test_present_tool_is_found() -> None:
    assert need("sh").endswith("sh")
