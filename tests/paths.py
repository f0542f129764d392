"""Paths the tests read: the checkout's root and the sample framework shipped with plansync."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "node" / "data" / "framework-sample.json"
