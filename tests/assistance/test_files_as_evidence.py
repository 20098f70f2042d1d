"""What travels with a request is evidence, on two live nodes: the court
order cn attaches to its draft goes to us right after the submission, and the
file us responds with comes back to cn, each an evidence item of the request
with its custody on both sides. File names with CR/LF, NUL, control
characters and `../` are kept as data and download on both nodes with a safe
Content-Disposition (RFC 6266): never a 500 (issue 14, #6)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import unquote

import httpx
import pytest

from tests.assistance.flow import Officers, Pair, attachment, file_arrives
from tests.live import ensure_peered, wait_until

pytestmark = pytest.mark.live

ORDER_NAME = "court\r\norder\x07 ../../etc/passwd\x00.pdf"
RESPONSE_NAME = 'records\r\nSet-Cookie: x=1; "../证据".csv'


@pytest.fixture(scope="module")
def pair(two_live_nodes) -> Iterator[Pair]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        yield Pair(Officers(stack, cn, us), cn, us)


def items_of(client: httpx.Client, request_id: str) -> list[dict]:
    response = client.get(f"/api/v1/evidence/requests/{request_id}/items")
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else []


def custody_events(client: httpx.Client, item_id: str) -> set[tuple[str, str]]:
    view = client.get(f"/api/v1/evidence/items/{item_id}").json()
    return {(record["node"], record["event"]) for record in view["custody"]}


def assert_safe_download(response: httpx.Response, name: str, data: bytes) -> None:
    assert response.status_code == 200, response.text
    header = response.headers["content-disposition"]
    assert header.startswith("attachment; ")
    assert not any(ord(c) < 32 for c in header), header
    stored = name.replace("\x00", "\ufffd")
    assert unquote(header.split("filename*=utf-8''", 1)[1]) == stored
    assert response.content == data


def test_attachments_and_responses_travel_as_evidence_with_safe_names(pair, tmp_path):
    cn_investigator = pair.officer(pair.cn, "investigator")
    request_id = pair.draft("data_order")
    order = b"%PDF-1.4\n% a synthetic court order\n" + request_id.encode()
    added = cn_investigator.post(
        f"/api/v1/evidence/requests/{request_id}/items",
        files={"file": ("order.pdf", order, "application/pdf")},
        data={"name": ORDER_NAME, "description": "Court order", "how": "court order"},
    )
    assert added.status_code == 201, added.text
    order_id = added.json()["id"]
    pair.submit(request_id)

    # us: the court order arrives under the request, with cn's chain and its own.
    wait_until(
        lambda: [i["id"] for i in items_of(pair.us_ca, request_id)] == [order_id],
        timeout=60,
        what="the court order to reach us",
    )
    got = pair.us_ca.get(f"/api/v1/evidence/items/{order_id}/content")
    assert_safe_download(got, ORDER_NAME, order)
    cn, us = pair.cn.node_id, pair.us.node_id
    assert {(cn, "collected"), (us, "received")} <= custody_events(pair.us_ca, order_id)
    wait_until(
        lambda: (cn, "transferred") in custody_events(pair.cn_ca, order_id),
        timeout=30,
        what="cn to record the transfer",
    )

    # us responds with a file; cn receives it as an evidence item.
    pair.step(request_id, "acknowledge", state="received")
    pair.step(request_id, "start_screening", state="screening")
    pair.finding(request_id, "dual_criminality", True, "Fraud in both systems")
    pair.step(request_id, "accept", state="accepted")
    pair.step(request_id, "begin_execution", state="in_execution")
    records = b"account,holder\r\nvoip-1,\x00test\n" + request_id.encode()
    view = pair.step(
        request_id,
        "respond",
        {"text": "Records attached"},
        state="responded",
        attachments=[attachment(RESPONSE_NAME, records, "text/csv")],
    )
    [listed] = view["files"]
    assert file_arrives(pair.cn_ca, request_id, listed["sha256"]) == records
    for client in (pair.cn_ca, pair.us_ca):
        path = f"/api/v1/assistance/requests/{request_id}/files/{listed['sha256']}"
        assert_safe_download(client.get(path), RESPONSE_NAME, records)
        page = client.get(f"/requests/{request_id}/")
        assert page.status_code == 200
        assert 'data-testid="response-file"' in page.text
    [response_item] = [i for i in items_of(pair.cn_ca, request_id) if i["id"] != order_id]
    assert (us, "collected") in custody_events(pair.cn_ca, response_item["id"])
    assert pair.agreed(request_id)["files"] == view["files"]
