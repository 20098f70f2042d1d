"""Who may call each endpoint: one table for every URL pattern and API operation.

The authorisation matrix test (tests/test_authorization_matrix.py) calls every
entry as every role and as an anonymous visitor, and fails when an endpoint is
missing here. Later apps add their rows."""

from __future__ import annotations

from dataclasses import dataclass

from accord.core.roles import Permission


class Audience:
    PUBLIC = "public"  # anyone, signed in or not
    SIGNED_IN = "signed-in"  # any active user, whatever the role
    # Partner tools with a TAXII account (HTTP Basic or Bearer), not web sessions.
    TAXII_ACCOUNT = "taxii-account"


@dataclass(frozen=True)
class Rule:
    # An Audience, or the permission a role must grant (a tuple: every one of them).
    who: str | Permission | tuple[Permission, ...]
    methods: tuple[str, ...] = ("GET",)
    # URL kwargs for patterns that take arguments, filled in by the test fixtures.
    kwargs: tuple[str, ...] = ()


WEB: dict[str, Rule] = {
    "well-known": Rule(Audience.PUBLIC),
    "healthz": Rule(Audience.PUBLIC),
    # Prometheus presents a bearer token instead (accord.ops.views).
    "metrics": Rule(Permission.VIEW_METRICS),
    "web:login": Rule(Audience.PUBLIC, ("GET", "POST")),
    "web:logout": Rule(Audience.PUBLIC, ("POST",)),
    "web:set-language": Rule(Audience.PUBLIC, ("POST",)),
    "web:dashboard": Rule(Permission.VIEW_DASHBOARD),
    "web:password": Rule(Audience.SIGNED_IN, ("GET", "POST")),
    # Second factor (accord.web.twofactor): each user's own.
    "web:two-factor": Rule(Audience.SIGNED_IN),
    "web:two-factor-verify": Rule(Audience.SIGNED_IN, ("GET", "POST")),
    "web:two-factor-enrol": Rule(Audience.SIGNED_IN, ("GET", "POST")),
    "web:two-factor-recovery-codes": Rule(Audience.SIGNED_IN, ("POST",)),
    "web:two-factor-reset": Rule(Permission.MANAGE_USERS, ("POST",), ("user_id",)),
    # Passkeys (accord.web.passkeys): each user's own; the options answer JSON.
    "web:passkey-add": Rule(Audience.SIGNED_IN, ("POST",)),
    "web:passkey-options": Rule(Audience.SIGNED_IN, ("POST",)),
    "web:passkey-remove": Rule(Audience.SIGNED_IN, ("POST",), ("pk",)),
    "web:passkey-sign-in": Rule(Audience.SIGNED_IN, ("POST",)),
    "web:passkey-sign-in-options": Rule(Audience.SIGNED_IN, ("POST",)),
    "web:users": Rule(Permission.MANAGE_USERS, ("GET", "POST")),
    "web:user-role": Rule(Permission.MANAGE_USERS, ("POST",), ("user_id",)),
    "web:user-active": Rule(Permission.MANAGE_USERS, ("POST",), ("user_id",)),
    "web:audit": Rule(Permission.VIEW_AUDIT),
    "web:audit-verify": Rule(Permission.VIEW_AUDIT, ("POST",)),
    # The API's description is public: it reveals no data, and partners' tools read it.
    # Peers post envelopes here; the signatures authenticate them, not a session.
    "federation:inbox": Rule(Audience.PUBLIC, ("POST",)),
    # Signed by the asking peer's node key, like the inbox (federation.anchoring).
    "federation:checkpoints": Rule(Audience.PUBLIC, ("POST",)),
    "federation:recovery": Rule(Audience.PUBLIC, ("POST",)),
    "federation:channel": Rule(Permission.MANAGE_FEDERATION),
    "federation:peer-add": Rule(Permission.MANAGE_FEDERATION, ("POST",)),
    "federation:peer-remove": Rule(Permission.MANAGE_FEDERATION, ("POST",), ("node_id",)),
    "federation:peer-reconcile": Rule(Permission.MANAGE_FEDERATION, ("POST",), ("node_id",)),
    "federation:retry": Rule(Permission.MANAGE_FEDERATION, ("POST",)),
    "federation:message": Rule(Permission.MANAGE_FEDERATION, ("GET",), ("message_id",)),
    "federation:notes": Rule(Permission.EXCHANGE_NOTES, ("GET", "POST")),
    "federation:notes-read": Rule(Permission.EXCHANGE_NOTES, ("POST",)),
    "federation:note-thread": Rule(Permission.EXCHANGE_NOTES, ("GET", "POST"), ("thread_id",)),
    "assistance:list": Rule(Permission.VIEW_REQUESTS),
    "assistance:export": Rule(Permission.VIEW_REQUESTS),
    "assistance:create": Rule(Permission.VIEW_REQUESTS, ("GET", "POST")),
    "assistance:detail": Rule(Permission.VIEW_REQUESTS, ("GET",), ("request_id",)),
    "assistance:edit": Rule(Permission.VIEW_REQUESTS, ("GET", "POST"), ("request_id",)),
    "assistance:step": Rule(Permission.VIEW_REQUESTS, ("POST",), ("request_id",)),
    "assistance:finding": Rule(Permission.VIEW_REQUESTS, ("POST",), ("request_id",)),
    "assistance:member": Rule(Permission.VIEW_REQUESTS, ("POST",), ("request_id",)),
    "assistance:case": Rule(Permission.VIEW_REQUESTS, ("POST",), ("request_id",)),
    "assistance:file": Rule(Permission.VIEW_REQUESTS, ("GET",), ("request_id", "sha256")),
    "assistance:print": Rule(Permission.VIEW_REQUESTS, ("GET",), ("request_id",)),
    "assistance:pdf": Rule(Permission.VIEW_REQUESTS, ("GET",), ("request_id",)),
    "cases:list": Rule(Permission.VIEW_CASES),
    "cases:export": Rule(Permission.VIEW_CASES),
    "cases:create": Rule(Permission.EDIT_CASES, ("GET", "POST")),
    "cases:detail": Rule(Permission.VIEW_CASES, ("GET",), ("case_id",)),
    "cases:edit": Rule(Permission.EDIT_CASES, ("GET", "POST"), ("case_id",)),
    "cases:status": Rule(Permission.EDIT_CASES, ("POST",), ("case_id",)),
    "cases:member": Rule(Permission.EDIT_CASES, ("POST",), ("case_id",)),
    "cases:observe": Rule(Permission.EDIT_CASES, ("POST",), ("case_id",)),
    "cases:unobserve": Rule(Permission.EDIT_CASES, ("POST",), ("case_id", "observable_id")),
    "cases:subject": Rule(Permission.EDIT_CASES, ("POST",), ("case_id",)),
    "cases:import": Rule(Permission.EDIT_CASES, ("POST",), ("case_id",)),
    "cases:import-job": Rule(Permission.VIEW_CASES, ("GET",), ("case_id", "job_id")),
    "cases:import-status": Rule(Permission.VIEW_CASES, ("GET",), ("case_id", "job_id")),
    "matching:home": Rule(Permission.RUN_MATCHING),
    "matching:ask": Rule(Permission.RUN_MATCHING, ("POST",), ("case_id",)),
    "matching:details": Rule(Permission.RUN_MATCHING, ("POST",), ("case_id", "hit_id")),
    "matching:approve": Rule(Permission.MANAGE_MATCHING, ("POST",), ("query_id",)),
    "matching:decline": Rule(Permission.MANAGE_MATCHING, ("POST",), ("query_id",)),
    "matching:policy": Rule(Permission.MANAGE_MATCHING, ("POST",), ("node_id",)),
    "evidence:item": Rule(Permission.VIEW_EVIDENCE, ("GET",), ("item_id",)),
    "evidence:list": Rule(Permission.VIEW_EVIDENCE),
    "evidence:download": Rule(Permission.VIEW_EVIDENCE, ("GET",), ("item_id",)),
    "evidence:purge": Rule(Permission.VIEW_EVIDENCE, ("POST",), ("item_id",)),
    "evidence:export": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "evidence:bundle": Rule(Permission.VIEW_EVIDENCE, ("GET",), ("bundle_id",)),
    "evidence:ask-use": Rule(Permission.VIEW_EVIDENCE, ("POST",), ("item_id",)),
    "evidence:answer-use": Rule(Permission.VIEW_EVIDENCE, ("POST",), ("item_id",)),
    "evidence:send": Rule(Permission.VIEW_EVIDENCE, ("POST",), ("item_id",)),
    "evidence:add-to-case": Rule(Permission.VIEW_EVIDENCE, ("POST",), ("case_id",)),
    "evidence:add-to-request": Rule(Permission.VIEW_EVIDENCE, ("POST",), ("request_id",)),
    # Peers send an offered item's parts here; each request is signed by the node.
    "evidence:bulk-state": Rule(Audience.PUBLIC, ("GET",), ("item_id",)),
    "evidence:bulk-part": Rule(Audience.PUBLIC, ("PUT",), ("item_id", "index")),
    "dialogue:home": Rule(Permission.VIEW_DIALOGUE),
    "dialogue:create": Rule(Permission.MANAGE_DIALOGUE, ("POST",)),
    "dialogue:signer": Rule(Permission.SIGN_OUTCOMES, ("GET", "POST")),
    "dialogue:detail": Rule(Permission.VIEW_DIALOGUE, ("GET",), ("dialogue_id",)),
    "dialogue:export": Rule(Permission.VIEW_DIALOGUE, ("GET",), ("dialogue_id",)),
    "dialogue:round-save": Rule(Permission.MANAGE_DIALOGUE, ("POST",), ("dialogue_id",)),
    "dialogue:disagreement": Rule(Permission.MANAGE_DIALOGUE, ("POST",), ("dialogue_id",)),
    "dialogue:round": Rule(Permission.VIEW_DIALOGUE, ("GET",), ("round_id",)),
    "dialogue:delegation": Rule(Permission.MANAGE_DIALOGUE, ("POST",), ("round_id",)),
    "dialogue:propose": Rule(Permission.SIGN_OUTCOMES, ("POST",), ("round_id",)),
    "dialogue:factsheet": Rule(Permission.VIEW_DIALOGUE, ("GET",), ("round_id",)),
    "dialogue:factsheet-pdf": Rule(Permission.VIEW_DIALOGUE, ("GET",), ("round_id",)),
    "dialogue:amend": Rule(Permission.SIGN_OUTCOMES, ("POST",), ("outcome_id",)),
    "dialogue:sign": Rule(Permission.SIGN_OUTCOMES, ("POST",), ("outcome_id",)),
    "dialogue:commitment": Rule(Permission.MANAGE_DIALOGUE, ("POST",), ("outcome_id",)),
    "dialogue:position": Rule(Permission.MANAGE_DIALOGUE, ("POST",), ("disagreement_id",)),
    "dialogue:disagreement-status": Rule(
        Permission.MANAGE_DIALOGUE, ("POST",), ("disagreement_id",)
    ),
    "dialogue:commitment-status": Rule(Permission.MANAGE_DIALOGUE, ("POST",), ("commitment_id",)),
    "intel:home": Rule(Permission.VIEW_INTEL),
    "intel:object": Rule(Permission.VIEW_INTEL, ("GET",), ("pk",)),
    "intel:import": Rule(Permission.VIEW_INTEL, ("POST",)),
    "intel:export": Rule(Permission.VIEW_INTEL, ("GET",), ("collection_id",)),
    "intel:status": Rule(Permission.VIEW_INTEL, ("GET",), ("status_id",)),
    # Sharing and subscribing connect partners: the operator's work (intel.policy).
    "intel:sharing": Rule(Permission.MANAGE_FEDERATION),
    "intel:share": Rule(Permission.MANAGE_FEDERATION, ("POST",), ("collection_id",)),
    "intel:unshare": Rule(Permission.MANAGE_FEDERATION, ("POST",), ("collection_id",)),
    "intel:subscribe": Rule(Permission.MANAGE_FEDERATION, ("POST",), ("collection_id",)),
    "intel:unsubscribe": Rule(Permission.MANAGE_FEDERATION, ("POST",), ("collection_id",)),
    "taxii:discovery": Rule(Audience.TAXII_ACCOUNT),
    "taxii:api-root": Rule(Audience.TAXII_ACCOUNT, ("GET",), ("root",)),
    "taxii:collections": Rule(Audience.TAXII_ACCOUNT, ("GET",), ("root",)),
    "taxii:collection": Rule(Audience.TAXII_ACCOUNT, ("GET",), ("root", "collection_id")),
    "taxii:objects": Rule(Audience.TAXII_ACCOUNT, ("GET", "POST"), ("root", "collection_id")),
    "taxii:object": Rule(
        Audience.TAXII_ACCOUNT, ("GET", "DELETE"), ("root", "collection_id", "object_id")
    ),
    "taxii:versions": Rule(
        Audience.TAXII_ACCOUNT, ("GET",), ("root", "collection_id", "object_id")
    ),
    "taxii:manifest": Rule(Audience.TAXII_ACCOUNT, ("GET",), ("root", "collection_id")),
    "taxii:status": Rule(Audience.TAXII_ACCOUNT, ("GET",), ("root", "status_id")),
    "api:openapi-json": Rule(Audience.PUBLIC),
    "api:openapi-view": Rule(Audience.PUBLIC),
    "api:api-root": Rule(Audience.PUBLIC),
}

# API operations by "METHOD /path" as the OpenAPI schema names them.
API: dict[str, Rule] = {
    "GET /api/v1/me": Rule(Audience.SIGNED_IN),
    "GET /api/v1/waiting": Rule(Permission.VIEW_DASHBOARD),
    "GET /api/v1/node": Rule(Audience.SIGNED_IN),
    "GET /api/v1/users": Rule(Permission.MANAGE_USERS),
    "POST /api/v1/users": Rule(Permission.MANAGE_USERS, ("POST",)),
    "GET /api/v1/audit/events": Rule(Permission.VIEW_AUDIT),
    "POST /api/v1/audit/verify": Rule(Permission.VIEW_AUDIT, ("POST",)),
    "GET /api/v1/federation/peers": Rule(Permission.MANAGE_FEDERATION),
    "POST /api/v1/federation/peers": Rule(Permission.MANAGE_FEDERATION, ("POST",)),
    "GET /api/v1/federation/outbox": Rule(Permission.MANAGE_FEDERATION),
    "GET /api/v1/federation/outbox/{message_id}": Rule(Permission.MANAGE_FEDERATION),
    "GET /api/v1/federation/inbox": Rule(Permission.MANAGE_FEDERATION),
    "GET /api/v1/federation/notes": Rule(Permission.EXCHANGE_NOTES),
    "POST /api/v1/federation/notes": Rule(Permission.EXCHANGE_NOTES, ("POST",)),
    "POST /api/v1/federation/notes/read": Rule(Permission.EXCHANGE_NOTES, ("POST",)),
    "GET /api/v1/assistance/requests": Rule(Permission.VIEW_REQUESTS),
    "POST /api/v1/assistance/requests": Rule(Permission.VIEW_REQUESTS, ("POST",)),
    "GET /api/v1/assistance/requests/{request_id}": Rule(Permission.VIEW_REQUESTS),
    "PUT /api/v1/assistance/requests/{request_id}": Rule(Permission.VIEW_REQUESTS, ("PUT",)),
    "POST /api/v1/assistance/requests/{request_id}/actions": Rule(
        Permission.VIEW_REQUESTS, ("POST",)
    ),
    "POST /api/v1/assistance/requests/{request_id}/findings": Rule(
        Permission.VIEW_REQUESTS, ("POST",)
    ),
    "POST /api/v1/assistance/requests/{request_id}/team": Rule(Permission.VIEW_REQUESTS, ("POST",)),
    "POST /api/v1/assistance/requests/{request_id}/case": Rule(Permission.VIEW_REQUESTS, ("POST",)),
    "GET /api/v1/assistance/requests/{request_id}/files/{sha256}": Rule(Permission.VIEW_REQUESTS),
    "GET /api/v1/assistance/metrics": Rule(Permission.VIEW_REQUESTS),
    "GET /api/v1/assistance/reminders": Rule(Permission.VIEW_REQUESTS),
    "GET /api/v1/assistance/vocabulary": Rule(Permission.VIEW_REQUESTS),
    "GET /api/v1/cases": Rule(Permission.VIEW_CASES),
    "POST /api/v1/cases": Rule(Permission.EDIT_CASES, ("POST",)),
    "GET /api/v1/cases/vocabulary": Rule(Permission.VIEW_CASES),
    "GET /api/v1/cases/{case_id}": Rule(Permission.VIEW_CASES),
    "PUT /api/v1/cases/{case_id}": Rule(Permission.EDIT_CASES, ("PUT",)),
    "POST /api/v1/cases/{case_id}/status": Rule(Permission.EDIT_CASES, ("POST",)),
    "POST /api/v1/cases/{case_id}/team": Rule(Permission.EDIT_CASES, ("POST",)),
    "POST /api/v1/cases/{case_id}/observables": Rule(Permission.EDIT_CASES, ("POST",)),
    "DELETE /api/v1/cases/{case_id}/observables/{observable_id}": Rule(
        Permission.EDIT_CASES, ("DELETE",)
    ),
    "POST /api/v1/cases/{case_id}/subjects": Rule(Permission.EDIT_CASES, ("POST",)),
    "POST /api/v1/cases/{case_id}/imports/csv": Rule(Permission.EDIT_CASES, ("POST",)),
    "POST /api/v1/cases/{case_id}/imports/stix": Rule(Permission.EDIT_CASES, ("POST",)),
    "GET /api/v1/cases/{case_id}/imports/{job_id}": Rule(Permission.VIEW_CASES),
    "GET /api/v1/dialogue/dialogues": Rule(Permission.VIEW_DIALOGUE),
    "POST /api/v1/dialogue/dialogues": Rule(Permission.MANAGE_DIALOGUE, ("POST",)),
    "GET /api/v1/dialogue/dialogues/{dialogue_id}": Rule(Permission.VIEW_DIALOGUE),
    "GET /api/v1/dialogue/dialogues/{dialogue_id}/export": Rule(Permission.VIEW_DIALOGUE),
    "POST /api/v1/dialogue/dialogues/{dialogue_id}/rounds": Rule(
        Permission.MANAGE_DIALOGUE, ("POST",)
    ),
    "PUT /api/v1/dialogue/rounds/{round_id}/delegation": Rule(Permission.MANAGE_DIALOGUE, ("PUT",)),
    "POST /api/v1/dialogue/rounds/{round_id}/outcomes": Rule(Permission.SIGN_OUTCOMES, ("POST",)),
    "POST /api/v1/dialogue/outcomes/{outcome_id}/versions": Rule(
        Permission.SIGN_OUTCOMES, ("POST",)
    ),
    "POST /api/v1/dialogue/outcomes/{outcome_id}/signatures": Rule(
        Permission.SIGN_OUTCOMES, ("POST",)
    ),
    "POST /api/v1/dialogue/dialogues/{dialogue_id}/disagreements": Rule(
        Permission.MANAGE_DIALOGUE, ("POST",)
    ),
    "PUT /api/v1/dialogue/disagreements/{disagreement_id}/position": Rule(
        Permission.MANAGE_DIALOGUE, ("PUT",)
    ),
    "POST /api/v1/dialogue/disagreements/{disagreement_id}/status": Rule(
        Permission.MANAGE_DIALOGUE, ("POST",)
    ),
    "POST /api/v1/dialogue/outcomes/{outcome_id}/commitments": Rule(
        Permission.MANAGE_DIALOGUE, ("POST",)
    ),
    "POST /api/v1/dialogue/commitments/{commitment_id}/status": Rule(
        Permission.MANAGE_DIALOGUE, ("POST",)
    ),
    "GET /api/v1/dialogue/indicators": Rule(Permission.VIEW_DIALOGUE),
    "POST /api/v1/matching/cases/{case_id}/queries": Rule(Permission.RUN_MATCHING, ("POST",)),
    "GET /api/v1/matching/cases/{case_id}": Rule(Permission.VIEW_CASES),
    "GET /api/v1/matching/queries": Rule(Permission.VIEW_CASES),
    "POST /api/v1/matching/queries/{query_id}/approve": Rule(Permission.MANAGE_MATCHING, ("POST",)),
    "POST /api/v1/matching/queries/{query_id}/decline": Rule(Permission.MANAGE_MATCHING, ("POST",)),
    "GET /api/v1/matching/policies": Rule(Permission.MANAGE_MATCHING),
    "PUT /api/v1/matching/policies/{node_id}": Rule(Permission.MANAGE_MATCHING, ("PUT",)),
    "POST /api/v1/evidence/cases/{case_id}/items": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "GET /api/v1/evidence/cases/{case_id}/items": Rule(Permission.VIEW_EVIDENCE),
    "POST /api/v1/evidence/requests/{request_id}/items": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "GET /api/v1/evidence/requests/{request_id}/items": Rule(Permission.VIEW_EVIDENCE),
    "GET /api/v1/evidence/items/{item_id}": Rule(Permission.VIEW_EVIDENCE),
    "GET /api/v1/evidence/items/{item_id}/content": Rule(Permission.VIEW_EVIDENCE),
    "POST /api/v1/evidence/items/{item_id}/purge": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "POST /api/v1/evidence/exports": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "GET /api/v1/evidence/exports/{bundle_id}": Rule(Permission.VIEW_EVIDENCE),
    "POST /api/v1/evidence/items/{item_id}/use-questions": Rule(
        Permission.VIEW_EVIDENCE, ("POST",)
    ),
    "POST /api/v1/evidence/items/{item_id}/use-answers": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "POST /api/v1/evidence/items/{item_id}/send": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "GET /api/v1/evidence/items/{item_id}/transfers": Rule(Permission.VIEW_EVIDENCE),
    "POST /api/v1/evidence/cases/{case_id}/uploads": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "POST /api/v1/evidence/requests/{request_id}/uploads": Rule(
        Permission.VIEW_EVIDENCE, ("POST",)
    ),
    "GET /api/v1/evidence/uploads/{upload_id}": Rule(Permission.VIEW_EVIDENCE),
    "PUT /api/v1/evidence/uploads/{upload_id}": Rule(Permission.VIEW_EVIDENCE, ("PUT",)),
    "POST /api/v1/evidence/uploads/{upload_id}/finish": Rule(Permission.VIEW_EVIDENCE, ("POST",)),
    "DELETE /api/v1/evidence/uploads/{upload_id}": Rule(Permission.VIEW_EVIDENCE, ("DELETE",)),
    # A draft assistance request: both hit/no-hit and the request workflow.
    "POST /api/v1/matching/hits/{hit_id}/request": Rule(
        (Permission.RUN_MATCHING, Permission.VIEW_REQUESTS), ("POST",)
    ),
}
