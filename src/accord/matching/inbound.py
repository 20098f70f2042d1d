"""The matching.* message kinds arriving from a peer: each body is checked
against its strict schema before its handler runs (federation.kinds); the
handlers are the answering and asking sides' public functions, and refuse
through `kinds.Refusal("code: detail")`."""

from __future__ import annotations

from accord.federation import kinds
from accord.matching import answering, asking
from accord.matching.wire import (
    ANSWER_KIND,
    QUERY_KIND,
    REFUSED_KIND,
    SET_KIND,
    AnswerBody,
    QueryBody,
    RefusedBody,
    SetBody,
)

kinds.register(QUERY_KIND, QueryBody)(kinds.peer_handler(answering.receive_query))
kinds.register(ANSWER_KIND, AnswerBody)(kinds.peer_handler(asking.receive_answer))
kinds.register(SET_KIND, SetBody)(kinds.peer_handler(asking.receive_set))
kinds.register(REFUSED_KIND, RefusedBody)(kinds.peer_handler(asking.receive_refused))
