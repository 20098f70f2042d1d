"""The demo's evidence item (`make run`): on the request cn.mps executes for
us.doj (fentanyl precursors, accepted with a speciality condition), cn.mps adds
a synthetic provider production and sends it over the real channel, so both
nodes hold the item and both custody chains, reached as a user would."""

from __future__ import annotations

import time
from typing import Any, TextIO

from accord.core.democlient import SeedError, SignedIn

TRANSFER_TIMEOUT_SECONDS = 60
NAME = "shipments-2026-09.csv"
CONTENT = (
    b"SYNTHETIC DEMO DATA\n"
    b"waybill,shipped_on,consignor,consignee,goods\n"
    b"GZ-20260903-0117,2026-09-03,Example Trading Co. (synthetic),"
    b"Example Imports S.A. (synthetic),4-AP 25 kg\n"
    b"GZ-20260917-0342,2026-09-17,Example Trading Co. (synthetic),"
    b"Example Imports S.A. (synthetic),1-boc-4-AP 40 kg\n"
)
COLLECTED = {
    "how": "提供者出具 Provider production (freight forwarder's shipping records)",
    "where": "广州 Guangzhou",
    "by": "刘洋 Liu Yang (demo)",
    "legal_basis": "调取证据通知书 Evidence collection notice (synthetic)",
    "when": "2026-10-20T09:30:00+08:00",
}


def the_request(officer: SignedIn) -> dict[str, Any]:
    """The incoming general-evidence request in execution (the request seed made it)."""
    rows = officer.call(
        "GET",
        "/api/v1/assistance/requests?direction=incoming&state=in_execution"
        "&request_type=general_evidence",
    )
    rows = rows["items"] if isinstance(rows, dict) else rows
    if not rows:
        raise SeedError("demo: no incoming request in execution to answer with evidence")
    return rows[0]


def seed(cn_url: str, us_url: str, password: str, out: TextIO) -> str:
    """Returns the id of the item, once it is confirmed on both nodes."""
    cn = SignedIn(cn_url, "central", password)
    request = the_request(cn)
    response = cn.client.post(
        f"/api/v1/evidence/requests/{request['id']}/items",
        data={"description": "SYNTHETIC DEMO DATA. Shipping records, 2026-09.", **COLLECTED},
        files={"file": (NAME, CONTENT, "text/csv")},
    )
    if response.status_code != 201:
        raise SeedError(f"adding the demo evidence failed: {response.text[:300]}")
    item = response.json()["id"]
    if not cn.call("GET", f"/api/v1/evidence/items/{item}/transfers"):
        # Not on its way by itself (the request had no response yet): sent by hand.
        cn.call("POST", f"/api/v1/evidence/items/{item}/send", {}, expect=202)
    # Bounded: the receiver's signed receipt marks the transfer done.
    deadline = time.monotonic() + TRANSFER_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        rows = cn.call("GET", f"/api/v1/evidence/items/{item}/transfers")
        if any(row["status"] == "done" for row in rows):
            out.write("Demo evidence sent from cn.mps to us.doj with its custody chain.\n")
            return item
        if any(row["status"] in ("failed", "abandoned") for row in rows):
            raise SeedError(f"the demo evidence transfer failed: {rows}")
        time.sleep(0.3)
    raise SeedError("the demo evidence did not arrive in time")
