from contextlib import ExitStack

from tests.assistance.flow import Officers, act, get, in_step, request_body
from tests.live import ensure_peered


def test_a_data_order_goes_the_whole_way(two_live_nodes):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        officer = Officers(stack, cn, us)
        inv, pro, ca = (officer(cn, r) for r in ("investigator", "prosecutor", "central_authority"))
        us_ca = officer(us, "central_authority")
        created = inv.post("/api/v1/assistance/requests", json=request_body("data_order", us.node_id))
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        act(inv, rid, "send_for_validation")
        act(pro, rid, "validate")
        act(ca, rid, "submit")
        in_step(ca, us_ca, rid)
        act(us_ca, rid, "acknowledge")
        act(us_ca, rid, "start_screening")
        r = us_ca.post(f"/api/v1/assistance/requests/{rid}/findings",
                       json={"ground": "dual_criminality", "applies": True, "rationale": "fraud in both"})
        assert r.status_code == 201, r.text
        act(us_ca, rid, "accept_with_conditions", {"conditions": [{"kind": "speciality", "text": "this case only"}]})
        in_step(ca, us_ca, rid)
        act(us_ca, rid, "begin_execution", expect=409)
        act(ca, rid, "accept_conditions")
        view = in_step(ca, us_ca, rid)
        assert view["state"] == "accepted"
        act(us_ca, rid, "begin_execution")
        import base64
        act(us_ca, rid, "respond", {"text": "Subscriber: Example"},
            attachments=[{"name": "records.csv", "content_type": "text/csv",
                          "data_base64": base64.b64encode(b"a,b\n1,2\n" * 100000).decode()}])
        view = in_step(ca, us_ca, rid)
        assert view["state"] == "responded" and len(view["files"]) == 1
        act(ca, rid, "close")
        view = in_step(ca, us_ca, rid)
        assert view["state"] == "closed"
        f = view["files"][0]
        d = ca.get(f"/api/v1/assistance/requests/{rid}/files/{f['sha256']}")
        assert d.status_code == 200 and d.content == b"a,b\n1,2\n" * 100000
        print(get(ca, rid)["events"][-1])
