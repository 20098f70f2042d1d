"""Example requests for the demo federation (`make run`): synthetic, marked as
such, and put through the real workflow over the real channel, so every state
shown was reached the way a user would reach it."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, TextIO

from accord.assistance.registry import basis_fits
from accord.assistance.types import LegalBasis, RequestType
from accord.core.democlient import SeedError, SignedIn

STEP_TIMEOUT_SECONDS = 30
NOTE = "SYNTHETIC DEMO DATA. "


# Each demo request's reference by id, and the nodes known to hold it: the
# other node looks for it by reference until it has arrived (`Officer.holds`).
_REFERENCES: dict[str, str] = {}
_HELD: set[tuple[str, str]] = set()


class Officer(SignedIn):
    def create(self, body: dict[str, Any]) -> str:
        response = self.client.post("/api/v1/assistance/requests", json=body)
        if response.status_code != 201:
            raise SeedError(f"creating a demo request failed: {response.text[:300]}")
        made = response.json()
        _REFERENCES[made["id"]] = made["reference"]
        _HELD.add((made["id"], str(self.client.base_url)))
        return made["id"]

    def get(self, request_id: str) -> dict[str, Any] | None:
        if not self.holds(request_id):
            return None
        response = self.client.get(f"/api/v1/assistance/requests/{request_id}")
        return response.json() if response.status_code == 200 else None

    def holds(self, request_id: str) -> bool:
        """Has the request reached this node? Asked of the list, which answers
        an empty page while it is on its way, not of the request's own address,
        which answers 404 (a warning in the demo's log, for no fault)."""
        here = (request_id, str(self.client.base_url))
        if here in _HELD or request_id not in _REFERENCES:
            return True
        answer = self.client.get(
            "/api/v1/assistance/requests", params={"q": _REFERENCES[request_id]}
        )
        if answer.status_code == 200 and any(
            row["id"] == request_id for row in answer.json()["items"]
        ):
            _HELD.add(here)
            return True
        return False

    def step(self, request_id: str, action: str, payload: dict | None = None, **extra: Any) -> None:
        view = self.wait(request_id, lambda v: action in v["actions"])
        body = {"action": action, "version": view["version"], "payload": payload or {}, **extra}
        response = self.client.post(f"/api/v1/assistance/requests/{request_id}/actions", json=body)
        if response.status_code != 200:
            raise SeedError(f"demo step {action} failed: {response.text[:300]}")

    def finding(self, request_id: str, ground: str, applies: bool, rationale: str) -> None:
        self.wait(request_id, lambda v: True)
        response = self.client.post(
            f"/api/v1/assistance/requests/{request_id}/findings",
            json={"ground": ground, "applies": applies, "rationale": rationale},
        )
        if response.status_code != 201:
            raise SeedError(f"demo finding failed: {response.text[:300]}")

    def wait(self, request_id: str, ready: Callable[[dict], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            view = self.get(request_id)
            if (
                view is not None
                and ready(view)
                and not any(p["outcome"] == "" for p in view["pending_actions"])
            ):
                return view
            time.sleep(0.3)
        raise SeedError(f"request {request_id} did not reach the expected state in time")


def _offence(label: str, statute: str, years: int, category: str) -> dict[str, Any]:
    return {"label": label, "statute": statute, "max_penalty_years": years, "category": category}


def _request(
    peer: str,
    kind: RequestType,
    basis: LegalBasis,
    authority: str,
    central: str,
    signer: str,
    offences: list,
    summary: str,
    purpose: str,
    details: dict,
    **more: Any,
) -> dict:
    if not basis_fits(kind, basis):
        raise SeedError(f"demo: {basis} does not fit {kind}")
    return {
        "peer": peer,
        "request_type": kind,
        "legal_basis": basis,
        "requesting_authority": authority,
        "central_authority": central,
        "offences": offences,
        "summary": NOTE + summary,
        "purpose": purpose,
        "signer": signer,
        "details": details,
        "synthetic": True,
        **more,
    }


def seed(cn_url: str, us_url: str, password: str, out: TextIO) -> int:
    """Returns how many example requests it made."""
    cn = {
        r: Officer(cn_url, u, password)
        for r, u in (("inv", "investigator"), ("pro", "prosecutor"), ("ca", "central"))
    }
    us = {
        r: Officer(us_url, u, password)
        for r, u in (("inv", "investigator"), ("pro", "prosecutor"), ("ca", "central"))
    }

    def submit(side: dict[str, Officer], body: dict) -> str:
        request_id = side["inv"].create(body)
        side["inv"].step(request_id, "send_for_validation")
        side["pro"].step(request_id, "validate")
        side["ca"].step(request_id, "submit")
        return request_id

    fraud = [_offence("电信网络诈骗 Telecom fraud", "PRC Criminal Law Art. 266", 10, "fraud")]
    # 1. cn -> us: subscriber data, answered with a file, closed.
    one = submit(
        cn,
        _request(
            "us.doj",
            RequestType.DATA_ORDER,
            LegalBasis.BILATERAL,
            "上海市公安局 Shanghai PSB",
            "公安部 MPS",
            "张伟 Zhang Wei",
            fraud,
            "A call-centre fraud ring used US-hosted VoIP accounts.",
            "Identify the account holders.",
            {
                "data_category": "subscriber",
                "issuer": "Shanghai People's Procuratorate",
                "issuer_is_judicial": True,
                "identifiers": [
                    {"kind": "ip", "value": "203.0.113.24", "observed_at": "2026-10-02T08:15:00Z"},
                    {"kind": "phone", "value": "+1 202 555 0143"},
                ],
            },
        ),
    )
    us["ca"].step(one, "acknowledge")
    us["ca"].step(one, "start_screening")
    us["ca"].finding(one, "dual_criminality", True, "Wire fraud, 18 U.S.C. § 1343.")
    us["ca"].step(one, "accept")
    us["ca"].step(one, "begin_execution")
    csv = base64.b64encode(b"account,holder\nvoip-7731,Example Person (synthetic)\n").decode()
    us["ca"].step(
        one,
        "respond",
        {"text": "Subscriber records attached (synthetic)."},
        attachments=[{"name": "subscribers.csv", "content_type": "text/csv", "data_base64": csv}],
    )
    cn["ca"].step(one, "close")
    # 2. cn -> us: urgent preservation, held.
    two = submit(
        cn,
        _request(
            "us.doj",
            RequestType.PRESERVATION,
            LegalBasis.BUDAPEST_29,
            "深圳市公安局 Shenzhen PSB",
            "公安部 MPS",
            "张伟 Zhang Wei",
            [
                _offence(
                    "破坏计算机信息系统 Ransomware", "PRC Criminal Law Art. 286", 15, "interference"
                )
            ],
            "Ransomware operators stored stolen data with a US cloud provider.",
            "Preserve the data until a full request follows.",
            {
                "data_to_preserve": "Bucket ex-7731 and its access logs",
                "relation_to_offence": "Holds the exfiltrated hospital data",
                "custodian": "Example Cloud Inc.",
                "why_needed": "Retention is 30 days",
                "full_request_follows": True,
            },
            urgency="urgent",
            urgency_reason="Logs are deleted after 30 days.",
        ),
    )
    us["ca"].step(two, "acknowledge")
    us["ca"].step(two, "start_screening")
    us["ca"].step(two, "accept")
    us["ca"].step(two, "preserve")
    # 3. us -> cn: fentanyl precursors, accepted with conditions, in execution.
    drugs = [_offence("Fentanyl precursor trafficking", "21 U.S.C. § 960", 99, "narcotics")]
    three = submit(
        us,
        _request(
            "cn.mps",
            RequestType.GENERAL_EVIDENCE,
            LegalBasis.BILATERAL,
            "DEA Los Angeles Division",
            "Office of International Affairs",
            "Sam Rivera",
            drugs,
            "Precursor chemicals shipped to a Mexican cartel front company.",
            "Obtain shipping records and a witness statement.",
            {
                "measures": ["records", "witness"],
                "persons_and_places": "Freight forwarder, Guangzhou",
                "questions": "Who ordered the shipments of 2026-09?",
            },
        ),
    )
    cn["ca"].step(three, "acknowledge")
    cn["ca"].step(three, "start_screening")
    cn["ca"].finding(three, "dual_criminality", True, "走私、贩卖毒品罪 Art. 347, 350.")
    cn["ca"].step(
        three,
        "accept_with_conditions",
        {"conditions": [{"kind": "speciality", "text": "仅用于本案 Only for this case."}]},
    )
    us["ca"].step(three, "accept_conditions")
    cn["ca"].step(three, "begin_execution")
    # 4. us -> cn: locate a fugitive, more information asked for.
    four = submit(
        us,
        _request(
            "cn.mps",
            RequestType.LOCATE_PERSON,
            LegalBasis.INTERPOL,
            "FBI Seattle",
            "Office of International Affairs",
            "Sam Rivera",
            [_offence("Money laundering", "18 U.S.C. § 1956", 20, "money_laundering")],
            "A money mule organiser left the US in 2026.",
            "Locate the person.",
            {
                "person": {"family_name": "Example", "given_names": "Pat (synthetic)"},
                "last_known_location": "Guangzhou",
            },
        ),
    )
    cn["ca"].step(four, "acknowledge")
    cn["ca"].step(four, "start_screening")
    cn["ca"].step(
        four,
        "request_information",
        {"questions": "请提供出生日期和护照号码。 Date of birth and passport number?"},
    )
    # 5. cn -> us: stored data, just submitted (awaiting acknowledgement).
    submit(
        cn,
        _request(
            "us.doj",
            RequestType.STORED_DATA,
            LegalBasis.BUDAPEST_31,
            "北京市公安局 Beijing PSB",
            "公安部 MPS",
            "张伟 Zhang Wei",
            [
                _offence(
                    "非法侵入计算机信息系统 Intrusion",
                    "PRC Criminal Law Art. 285",
                    7,
                    "illegal_access",
                )
            ],
            "Intrusion into a provincial power grid operator.",
            "Obtain the attacker's server images.",
            {
                "measure": "disclosure",
                "data_description": "Disk images of VPS 198.51.100.4",
                "location": "Example Hosting LLC",
                "risk_of_loss": True,
            },
        ),
    )
    # 6. us -> cn: refused after consultation.
    six = submit(
        us,
        _request(
            "cn.mps",
            RequestType.GENERAL_EVIDENCE,
            LegalBasis.BILATERAL,
            "US Attorney, District of Columbia",
            "Office of International Affairs",
            "Sam Rivera",
            [_offence("Conspiracy", "18 U.S.C. § 371", 5, "facilitation")],
            "Records of a state-owned enterprise.",
            "Obtain internal records.",
            {"measures": ["records"], "persons_and_places": "Example SOE, Beijing"},
        ),
    )
    cn["ca"].step(six, "acknowledge")
    cn["ca"].step(six, "start_screening")
    cn["ca"].step(six, "consult", {"comment": "可否限定范围? Could the scope be narrowed?"})
    cn["ca"].step(
        six,
        "refuse",
        {
            "grounds": [
                {
                    "ground": "essential_interests",
                    "rationale": "涉及国家秘密 State secrets (synthetic).",
                }
            ]
        },
    )
    # 7. a draft on cn; 8. spontaneous information from us, accepted.
    cn["inv"].create(
        _request(
            "us.doj",
            RequestType.TRAFFIC_DISCLOSURE,
            LegalBasis.BUDAPEST_30,
            "杭州市公安局 Hangzhou PSB",
            "公安部 MPS",
            "张伟 Zhang Wei",
            fraud,
            "Phishing kit hosted behind a chain of proxies.",
            "Trace the path to the origin.",
            {"preserved_traffic_data": "Proxy logs 2026-10-05", "provider_and_path": "AS64496"},
        )
    )
    eight = submit(
        us,
        _request(
            "cn.mps",
            RequestType.SPONTANEOUS,
            LegalBasis.BILATERAL,
            "FBI Cyber Division",
            "Office of International Affairs",
            "Sam Rivera",
            [_offence("Botnet operation", "18 U.S.C. § 1030", 10, "interference")],
            "A botnet command server controls devices in China.",
            "Help the partner act.",
            {
                "information": "C2 at 198.51.100.77, active since 2026-09.",
                "conditions": [{"kind": "confidentiality", "text": "Police use only."}],
            },
        ),
    )
    cn["ca"].step(eight, "acknowledge")
    cn["ca"].step(eight, "accept_information")
    out.write("Demo requests created on both nodes (synthetic data).\n")
    return 8
