"""`accord dialogue`: the dialogue record from the shell. `verify FILE` needs no
node at all: anyone holding an export can check its signatures offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core.audit import Actor
from accord.core.commands import actor_named, write_table


class Command(BaseCommand):
    help = (
        "The dialogue record: list, show, export, verify an export offline, propose and "
        "sign outcomes, read indicators."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("list", help="dialogues and their rounds")
        show = sub.add_parser("show", help="one dialogue as JSON")
        show.add_argument("dialogue_id")
        out = sub.add_parser("export", help="the signed record as JSON (for verify)")
        out.add_argument("dialogue_id")
        out.add_argument("--out", help="write to this file instead of standard output")
        check = sub.add_parser("verify", help="check an export's hashes and signatures offline")
        check.add_argument("file", help="the export (- for standard input)")
        check.add_argument(
            "--trust",
            action="append",
            default=[],
            metavar="NODE=FINGERPRINT",
            help="accept only this key for NODE (SHA-256 fingerprint, as "
            "`accord peer list` or the node's identity page shows); repeatable",
        )
        propose = sub.add_parser("propose", help="propose an outcome and sign it for this node")
        propose.add_argument("round_id")
        propose.add_argument("--topic", required=True)
        propose.add_argument("--text-en", required=True)
        propose.add_argument("--text-zh", required=True)
        propose.add_argument("--title", default="", help="the signer's title")
        propose.add_argument("--as", dest="username", required=True)
        sign = sub.add_parser("sign", help="co-sign an outcome's latest version for this node")
        sign.add_argument("outcome_id")
        sign.add_argument("--version", type=int, required=True)
        sign.add_argument("--title", default="", help="the signer's title")
        sign.add_argument("--as", dest="username", required=True)
        sub.add_parser("indicators", help="every indicator, read now")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action != "verify":
            self._need_node()
        try:
            getattr(self, f"do_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None

    def _need_node(self) -> None:
        from accord.core.identity import NODE_FILE

        if not (Path(settings.DATA_DIR) / NODE_FILE).exists():
            raise CommandError(f"no node in {settings.DATA_DIR}: run `accord init` first")

    def _find(self, model: Any, pk: str) -> Any:
        try:
            found = model.objects.filter(pk=pk).first()
        except ValidationError:
            found = None
        if found is None:
            raise CommandError(f"no {model.__name__.lower()} {pk!r} on this node")
        return found

    def do_list(self, **options: Any) -> None:
        from accord.dialogue.models import Dialogue

        rows = Dialogue.objects.prefetch_related("rounds", "peers")
        # A dialogue's row, then one row per round (its id, and its number in TRACK).
        write_table(
            self.stdout,
            ("ID", "TRACK OR ROUND", "WITH", "TITLE OR DATE AND VENUE"),
            [
                line
                for d in rows
                for line in [
                    (
                        d.pk,
                        d.track,
                        ", ".join(sorted(p.node_id for p in d.peers.all())),
                        d.title_en,
                    ),
                    *(
                        (f"  {r.pk}", f"round {r.number}", "", f"{r.date} {r.venue_en}")
                        for r in d.rounds.order_by("number")
                    ),
                ]
            ],
            "No dialogues.",
        )

    def do_show(self, dialogue_id: str, **options: Any) -> None:
        from accord.dialogue.api import dialogue_json
        from accord.dialogue.models import Dialogue

        document = dialogue_json(self._find(Dialogue, dialogue_id))
        self.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str))

    def do_export(self, dialogue_id: str, out: str | None = None, **options: Any) -> None:
        from accord.core import audit
        from accord.core.audit import AuditAction
        from accord.dialogue.export import export_dialogue
        from accord.dialogue.models import Dialogue

        dialogue = self._find(Dialogue, dialogue_id)
        text = json.dumps(export_dialogue(dialogue), ensure_ascii=False, indent=2)
        audit.record(
            Actor.system("cli"), AuditAction.DIALOGUE_EXPORT, dialogue, data={"what": "export"}
        )
        if out:
            Path(out).write_text(text + "\n", encoding="utf-8")
            self.stdout.write(f"written to {out}")
        else:
            self.stdout.write(text)

    def do_verify(self, file: str, trust: list[str], **options: Any) -> None:
        from accord.dialogue.export import verify

        trusted: dict[str, set[str]] = {}
        for item in trust:
            node, _, print_ = item.partition("=")
            print_ = print_.strip().lower().replace(":", "")
            if (
                not node.strip()
                or len(print_) != 64
                or any(c not in "0123456789abcdef" for c in print_)
            ):
                raise CommandError(f"--trust {item!r}: give NODE=FINGERPRINT (64 hex digits)")
            trusted.setdefault(node.strip(), set()).add(print_)

        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
            document = json.loads(text)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{file}: cannot read it as JSON ({exc})") from None
        findings = verify(document, trusted) if isinstance(document, dict) else []
        if not findings and not isinstance(document, dict):
            raise CommandError(f"{file}: not a dialogue export")
        nodes = document.get("nodes") if isinstance(document.get("nodes"), dict) else {}
        for node, keys in nodes.items():
            for key in keys if isinstance(keys, list) else []:
                if not isinstance(key, dict):
                    continue
                self.stdout.write(
                    f"key of {node}: SHA-256 {key.get('fingerprint')} "
                    "(compare it with the one you hold)"
                )
        broken = [f for f in findings if not f.ok]
        for finding in findings:
            mark = "OK  " if finding.ok else "FAIL"
            self.stdout.write(f"{mark} {finding.item}: {finding.detail}")
        if broken:
            raise CommandError(
                f"{len(broken)} item(s) do not verify; first: {broken[0].item}: {broken[0].detail}"
            )
        self.stdout.write(f"All {len(findings)} checks passed.")
        unchecked = sorted(set(nodes) - set(trusted))
        if unchecked:
            self.stdout.write(
                f"The keys of {', '.join(unchecked)} were taken from the file: "
                "check their fingerprints, or pass --trust NODE=FINGERPRINT."
            )

    def do_propose(
        self,
        round_id: str,
        topic: str,
        text_en: str,
        text_zh: str,
        title: str,
        username: str,
        **options: Any,
    ) -> None:
        from accord.dialogue.models import Round
        from accord.dialogue.services import outcomes

        outcome = outcomes.propose_outcome(
            actor_named(username), self._find(Round, round_id), topic, text_en, text_zh, title
        )
        self.stdout.write(f"outcome {outcome.pk} version 1 proposed and signed")

    def do_sign(
        self, outcome_id: str, version: int, title: str, username: str, **options: Any
    ) -> None:
        from accord.dialogue.models import Outcome
        from accord.dialogue.services import outcomes

        outcome = self._find(Outcome, outcome_id)
        outcomes.sign_outcome(actor_named(username), outcome, version, title)
        self.stdout.write(f"outcome {outcome.pk} version {version} signed")

    def do_indicators(self, **options: Any) -> None:
        from accord.core.indicators import all_indicators
        from accord.dialogue import progress

        start, end = progress.period()
        for indicator in all_indicators():
            measured = progress.measure({"code": indicator.code}, start, end)
            if measured:
                self.stdout.write(
                    f"{indicator.code:<34} {measured.reading.value!s:>10} "
                    f"{measured.reading.unit:<8} {start}..{end}"
                )
