"""Synthetic cases for the demo federation (`make run`), made through each
node's API as its investigator would: on each node two cases that share a
value (so the case page shows a correlation), and across the two nodes a
planted overlap (one phone number, one domain, one wallet, and one person
written 王小明 on one side and "Wang Xiaoming" on the other, born the same
day, that both agencies hold in a case of their own), ready for a hit/no-hit
question. Every
value is made up: documentation ranges (RFC 5737 addresses, example.* domains)
and numbers that belong to nobody."""

from __future__ import annotations

from typing import Any, TextIO

from accord.core.democlient import SignedIn

# Held by both nodes, each in a case of its own.
SHARED = [
    ("phone", "+86 138 0013 8000"),
    ("domain", "pay-secure-login.example"),
    ("eth", "0x52908400098527886e0f7030069857d2e4169ee7"),
]

CASES: dict[str, list[dict[str, Any]]] = {
    "cn": [
        {
            "case": {
                "title": "跨境电信诈骗团伙（演示）",
                "title_language": "zh-hans",
                "title_translation": "Cross-border telecom fraud ring (demo)",
                "categories": ["fraud"],
            },
            "observables": [
                *SHARED,
                ("ipv4", "203.0.113.45"),
                ("email", "kefu@pay-secure-login.example"),
            ],
            "subject": {
                "kind": "person",
                "family_name": "王",
                "given_name": "小明",
                "birth_date": "1988-03-14",
            },
        },
        {
            "case": {
                "title": "网络钓鱼平台（演示）",
                "title_language": "zh-hans",
                "title_translation": "Phishing platform (demo)",
                "categories": ["fraud", "facilitation"],
            },
            "observables": [
                ("ipv4", "203.0.113.45"),
                ("url", "https://pay-secure-login.example/l"),
            ],
        },
    ],
    "us": [
        {
            "case": {
                "title": "Operation Lantern: payment-fraud proceeds (demo)",
                "title_language": "en",
                "categories": ["fraud", "money_laundering"],
            },
            "observables": [*SHARED, ("ipv4", "198.51.100.23")],
            "subject": {
                "kind": "person",
                "family_name": "Wang",
                "given_name": "Xiaoming",
                "birth_date": "1988-03-14",
            },
        },
    ],
}


# What each demo node lets the other ask (docs/matching.md, "Policy"): the
# types of the planted overlap and a few more, without approval, so a
# newcomer's question is answered at once.
POLICY = {
    "types": ["phone", "domain", "email", "url", "ipv4", "eth", "person"],
    "max_values": 1000,
    "per_day": 10000,
    "needs_approval": False,
}


def seed(cn_url: str, us_url: str, password: str, out: TextIO) -> int:
    """Create the demo cases and each node's hit/no-hit policy for the
    other; returns how many cases."""
    for url, partner in ((cn_url, "us.doj"), (us_url, "cn.mps")):
        SignedIn(url, "central", password).call(
            "PUT", f"/api/v1/matching/policies/{partner}", POLICY
        )
    made = 0
    for side, url in (("cn", cn_url), ("us", us_url)):
        officer = SignedIn(url, "investigator", password)
        for example in CASES[side]:
            case = officer.call(
                "POST", "/api/v1/cases", {**example["case"], "synthetic": True}, expect=201
            )
            for code, value in example["observables"]:
                officer.call(
                    "POST",
                    f"/api/v1/cases/{case['id']}/observables",
                    {"type": code, "value": value},
                    expect=201,
                )
            if "subject" in example:
                officer.call(
                    "POST", f"/api/v1/cases/{case['id']}/subjects", example["subject"], expect=201
                )
            made += 1
    out.write(
        f"Created {made} synthetic cases, with values both nodes hold, and each "
        "node's hit/no-hit policy for the other.\n"
    )
    return made
