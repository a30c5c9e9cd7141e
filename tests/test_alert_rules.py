"""The alert rules fire when they should: promtool's unit tests of config/prometheus-alerts.yaml
(config/prometheus-alerts.test.yaml), one case at least per rule in which it fires.

promtool comes with Debian's `prometheus` package; .ci/run installs it and sets
NEWSFLOW_REQUIRE_PROMTOOL=1, so there they fail without it; elsewhere they skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[1] / "config"
RULES = CONFIG / "prometheus-alerts.yaml"
RULE_TESTS = CONFIG / "prometheus-alerts.test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("NEWSFLOW_REQUIRE_PROMTOOL"):
            pytest.fail("promtool required but not installed (apt-get install prometheus)")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return subprocess.run(
        [found, *args], cwd=CONFIG, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_file_is_valid() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_rules_unit_test_passes() -> None:
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_rule_has_a_case_where_it_fires() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert cases["rule_files"] == [RULES.name]
    firing = {
        check["alertname"]
        for case in cases["tests"]
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert names <= firing, f"rules with no firing case: {sorted(names - firing)}"
