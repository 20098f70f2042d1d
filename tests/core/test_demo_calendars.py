"""`accord demo` runs each demo node in its agency's own calendar: cn.mps in
Asia/Shanghai with China's public holidays, us.doj in America/New_York with
those of the United States, unless the operator chose a calendar (then both
keep it). No node is started: the environments the demo gives its nodes are
read, and checked against the settings' own parsers."""

from __future__ import annotations

import pytest

from accord.core import demo
from accord.core.calendars import check_country, zone

NODES = {node.node_id: node for node in demo.NODES}


@pytest.fixture
def operator(monkeypatch):
    """The operator's environment, with no calendar of its own."""
    for name in demo.CALENDAR_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCORD_DATABASE_URL", "postgres://elsewhere/accord")
    return monkeypatch


@pytest.mark.parametrize(
    ("node_id", "time_zone", "country"),
    [("cn.mps", "Asia/Shanghai", "CN"), ("us.doj", "America/New_York", "US")],
)
def test_each_demo_node_runs_in_its_own_zone_and_holidays(
    tmp_path, operator, node_id, time_zone, country
):
    env = demo.node_env(tmp_path, NODES[node_id])
    assert env["ACCORD_TIME_ZONE"] == time_zone
    assert env["ACCORD_HOLIDAY_COUNTRY"] == country
    # Values the node's settings accept (a bad one would stop it at start-up).
    assert zone(env["ACCORD_TIME_ZONE"]).key == time_zone
    assert check_country(env["ACCORD_HOLIDAY_COUNTRY"]) == country
    # The operator's other settings stay out: the demo keeps its own database.
    assert "ACCORD_DATABASE_URL" not in env
    assert env["ACCORD_DATA_DIR"] == str(tmp_path / node_id)


def test_a_calendar_the_operator_set_is_kept_on_both_nodes(tmp_path, operator):
    operator.setenv("ACCORD_TIME_ZONE", "Europe/Paris")
    operator.setenv("ACCORD_HOLIDAY_COUNTRY", "")  # weekends only
    for node in demo.NODES:
        env = demo.node_env(tmp_path, node)
        assert env["ACCORD_TIME_ZONE"] == "Europe/Paris"
        assert env["ACCORD_HOLIDAY_COUNTRY"] == ""
