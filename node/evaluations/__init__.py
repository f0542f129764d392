"""Mid-term (2025) and final (2030) evaluations (中期评估, 终期评估)."""
