"""The audit log's actions: one tag per kind of event, `source:subject:action`
(as warehouse's event tags), with its label in the reader's language.
`accord.core.audit` re-exports it: that is where callers import it from."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    """Tags are `source:subject:action` (as warehouse's event tags)."""

    NODE_INIT = "core:node:init", _("Node initialised")
    LOGIN = "core:user:login", _("Logged in")
    PASSWORD_ACCEPTED = (
        "core:user:password-accepted",
        _("Password accepted; waiting for the second factor"),
    )
    LOGIN_FAILED = "core:user:login-failed", _("Failed login")
    SIGNIN_THROTTLED = "core:signin:throttled", _("Sign-ins slowed down after repeated failures")
    LOGOUT = "core:user:logout", _("Logged out")
    USER_CREATE = "core:user:create", _("User created")
    USER_ROLE_CHANGE = "core:user:role-change", _("Role changed")
    USER_DEACTIVATE = "core:user:deactivate", _("User deactivated")
    USER_ACTIVATE = "core:user:activate", _("User reactivated")
    USER_PASSWORD_CHANGE = "core:user:password-change", _("Password changed")
    USER_LANGUAGE_CHANGE = "core:user:language-change", _("Language changed")
    TWOFACTOR_ENROL = "core:second-factor:enrol", _("Second factor enrolled")
    TWOFACTOR_VERIFIED = "core:second-factor:verified", _("Second factor verified")
    TWOFACTOR_FAILED = "core:second-factor:failed", _("Wrong second-factor code")
    TWOFACTOR_RECOVERY_USED = "core:second-factor:recovery-used", _("Recovery code used")
    TWOFACTOR_RECOVERY_NEW = "core:second-factor:recovery-new", _("New recovery codes made")
    TWOFACTOR_RESET = "core:second-factor:reset", _("Second factor reset")
    TWOFACTOR_REMOVE = "core:second-factor:remove", _("Passkey removed")
    TWOFACTOR_REMOVE_REFUSED = (
        "core:second-factor:remove-refused",
        _("Removal of the last second factor refused"),
    )
    ACCESS_DENIED = "core:access:denied", _("Access refused")
    AUDIT_VERIFY = "core:audit:verify", _("Audit log verified")
    AUDIT_CHECKPOINT = "core:audit:checkpoint", _("Audit head checkpoint sent to peers")
    ANONYMOUS_FAILURES = "core:anonymous:failures", _("Failures of unidentified requests counted")
    PEER_ADD = "federation:peer:add", _("Peer added")
    PEER_REMOVE = "federation:peer:remove", _("Peer removed")
    PEER_BLOCKED = "federation:peer:blocked", _("Delivery to a peer stopped")
    PEER_KEYS_ROTATED = "federation:peer:keys-rotated", _("A peer rotated its keys")
    KEYS_ROTATE = "core:node:keys-rotate", _("This node's keys rotated")
    PEER_OLD_KEY_RETIRED = "federation:peer:old-key-retired", _("A peer's old key retired")
    OUTBOX_RETRY = "federation:outbox:retry", _("Delivery retried")
    OUTBOX_DELIVERED = "federation:outbox:delivered", _("Messages delivered")
    NODE_BACKUP = "core:node:backup", _("Back-up written")
    NODE_RESTORE = "core:node:restore", _("Node restored from a back-up")
    CHANNEL_RECOVERED = "federation:channel:recovered", _("Channel recovered after a restore")
    INBOX_APPLY = "federation:inbox:apply", _("Message received and applied")
    INBOX_REFUSE = "federation:inbox:refuse", _("Message received and refused")
    INBOX_REJECT = "federation:inbox:reject", _("Envelope rejected")
    NOTE_SEND = "federation:note:send", _("Note sent")
    NOTE_LIST = "federation:note:list", _("Notes listed")
    NOTE_READ = "federation:note:read", _("Note thread read")
    NOTE_MARK_READ = "federation:note:mark-read", _("Notes marked as read")
    NOTE_LINK = "federation:note:link", _("Note thread linked to a case")
    PING_SEND = "federation:ping:send", _("Channel test sent")
    REPLICAS_CHECK = "federation:replicas:check", _("Replicas compared with a peer")
    REPLICA_OUT_OF_STEP = "federation:replica:out-of-step", _("Replica found out of step")
    REPLICA_SNAPSHOT_SENT = "federation:replica:snapshot-sent", _("Replica snapshot sent")
    REPLICA_REPAIRED = "federation:replica:repaired", _("Replica repaired from its owner")
    REPLICA_IN_STEP = "federation:replica:in-step", _("Replica back in step")
    REQUEST_CREATE = "assistance:request:create", _("Assistance request drafted")
    REQUEST_UPDATE = "assistance:request:update", _("Assistance request edited")
    REQUEST_TRANSITION = "assistance:request:transition", _("Assistance request moved on")
    REQUEST_ACTION_ASKED = (
        "assistance:request:action-asked",
        _("Assistance request action sent to the partner"),
    )
    REQUEST_ACTION_REFUSED = (
        "assistance:request:action-refused",
        _("Assistance request action refused"),
    )
    REQUEST_RECEIVE = "assistance:request:receive", _("Assistance request update received")
    REQUEST_HISTORY_LOAD = (
        "assistance:request:history",
        _("Synthetic request history loaded (demo)"),
    )
    REQUEST_READ = "assistance:request:read", _("Assistance request read")
    REQUEST_LIST = "assistance:request:list", _("Assistance requests listed")
    REQUEST_EXPORT = "assistance:request:export", _("Assistance request exported")
    REQUEST_FINDING = "assistance:request:finding", _("Screening finding recorded")
    REQUEST_TEAM = "assistance:request:team", _("Request team changed")
    REQUEST_FILES_DELETED = (
        "assistance:request:files-deleted",
        _("Response files deleted at the provider's demand"),
    )
    REQUEST_FOLLOW_UP_FAILED = (
        "assistance:request:follow-up-failed",
        _("Follow-up of a converted preservation not drafted as planned"),
    )
    REMINDER_SEND = "assistance:reminder:send", _("Deadline reminders sent")
    CLOCK_FAILED = "assistance:clock:failed", _("Timed work failed")
    CLOCK_RECOVERED = "assistance:clock:recovered", _("Timed work no longer failing")
    DIALOGUE_CHANGE = "dialogue:record:change", _("Dialogue record changed")
    DIALOGUE_SIGN = "dialogue:outcome:sign", _("Outcome proposed or signed")
    DIALOGUE_RECEIVE = "dialogue:record:receive", _("Dialogue update received")
    DIALOGUE_REFUSED = "dialogue:record:refused", _("Dialogue change refused")
    DIALOGUE_EXPORT = "dialogue:record:export", _("Dialogue record exported")
    INTEL_ACCOUNT = "intel:account:change", _("TAXII account changed")
    INTEL_SIGNIN_FAILED = "intel:account:signin-failed", _("Failed TAXII sign-in")
    INTEL_INGEST = "intel:objects:ingest", _("STIX objects received")
    INTEL_DELETE = "intel:objects:delete", _("STIX object deleted")
    INTEL_EXPORT = "intel:objects:export", _("STIX objects exported")
    INTEL_READ = "intel:objects:read", _("STIX objects read")
    INTEL_SHARE = "intel:collection:share", _("Collection shared or subscribed")
    INTEL_REFUSED = "intel:action:refused", _("Intelligence action refused")
    CASE_CREATE = "cases:case:create", _("Case opened")
    CASE_UPDATE = "cases:case:update", _("Case edited")
    CASE_STATUS = "cases:case:status", _("Case status changed")
    CASE_READ = "cases:case:read", _("Case read")
    CASE_LIST = "cases:case:list", _("Cases listed")
    CASE_TEAM = "cases:case:team", _("Case team changed")
    CASE_REFUSED = "cases:case:refused", _("Case change refused")
    OBSERVABLE_ADD = "cases:observable:add", _("Observable added to a case")
    OBSERVABLE_REMOVE = "cases:observable:remove", _("Observable removed from a case")
    OBSERVABLES_IMPORT = "cases:observable:import", _("Observables imported into a case")
    OBSERVABLES_IMPORT_START = "cases:observable:import-start", _("Import into a case started")
    SUBJECT_ADD = "cases:subject:add", _("Subject added to a case")
    MATCHING_POLICY = "matching:policy:change", _("Hit/no-hit policy for a partner changed")
    MATCHING_ASK = "matching:query:ask", _("Hit/no-hit query sent")
    MATCHING_RECEIVE = "matching:query:receive", _("Hit/no-hit query received")
    MATCHING_ANSWER = "matching:query:answer", _("Hit/no-hit query answered")
    MATCHING_APPROVE = "matching:query:approve", _("Hit/no-hit query approved")
    MATCHING_DECLINE = "matching:query:decline", _("Hit/no-hit query declined")
    MATCHING_QUERY_REFUSED = "matching:query:refused", _("Hit/no-hit query refused")
    MATCHING_RESULT = "matching:query:result", _("Hit/no-hit result received")
    MATCHING_REFUSED = "matching:action:refused", _("Hit/no-hit action refused")
    MATCHING_DETAILS = "matching:hit:details", _("Details of a hit asked through a request")
    EVIDENCE_ADD = "evidence:item:add", _("Evidence item added")
    EVIDENCE_VIEW = "evidence:item:view", _("Evidence item viewed")
    EVIDENCE_LIST = "evidence:item:list", _("Evidence items listed")
    EVIDENCE_DOWNLOAD = "evidence:item:download", _("Evidence item downloaded")
    EVIDENCE_EXPORT = "evidence:item:export", _("Evidence exported in a court bundle")
    EVIDENCE_PURGE = "evidence:item:purge", _("Evidence item purged")
    EVIDENCE_REFUSED = "evidence:item:refused", _("Evidence action refused")
    EVIDENCE_USE_ASKED = "evidence:use:ask", _("Use of evidence asked about")
    EVIDENCE_USE_ANSWERED = "evidence:use:answer", _("Question on the use of evidence answered")
    EVIDENCE_PURGE_CONFIRMED = "evidence:item:confirmed", _("Partner confirmed an evidence purge")
    EVIDENCE_SEND = "evidence:transfer:start", _("Evidence transfer to a partner started")
    EVIDENCE_SENT = "evidence:transfer:done", _("Evidence transfer confirmed by the partner")
    EVIDENCE_SEND_FAILED = "evidence:transfer:failed", _("Evidence transfer failed")
    EVIDENCE_RECEIVE = "evidence:transfer:received", _("Evidence item received from a partner")
    EVIDENCE_ABANDONED = "evidence:transfer:abandoned", _("Abandoned evidence transfer cleaned up")
    EVIDENCE_PARTS_LOST = (
        "evidence:transfer:parts-lost",
        _("Evidence parts lost in a restart of the machine, asked for again"),
    )
    EVIDENCE_ORPHAN_REMOVED = "evidence:blob:orphan", _("Unreferenced evidence bytes removed")
    EVIDENCE_EXPORT_FETCH = "evidence:export:fetch", _("Kept court bundle fetched again")
    EVIDENCE_UPLOAD_START = "evidence:upload:start", _("Resumable evidence upload started")
    EVIDENCE_UPLOAD_PART = "evidence:upload:part", _("Part of an evidence upload received")
    EVIDENCE_UPLOAD_DONE = "evidence:upload:done", _("Evidence upload finished")
    EVIDENCE_UPLOAD_CANCEL = "evidence:upload:cancel", _("Evidence upload cancelled")
    EVIDENCE_UPLOAD_EXPIRED = "evidence:upload:expired", _("Abandoned evidence upload removed")
