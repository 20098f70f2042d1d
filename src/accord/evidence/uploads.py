"""The first upload handler of every multipart request: a body declared larger
than the biggest evidence item this node accepts (plus room for the form
around it) is not read at all. The view then finds no file and refuses with
413 and the reason; nothing was written to memory or to a temporary file."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

# Room for the multipart envelope and the text fields around the file.
FORM_SLACK = 65_536


def body_limit() -> int:
    from accord.evidence.blobs import max_item_bytes

    return max_item_bytes() + FORM_SLACK


class RefuseOversized(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict[str, Any]] | None:
        if content_length > body_limit():
            return QueryDict(encoding=encoding), MultiValueDict()  # nothing parsed, nothing read
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data  # the next handler stores it

    def file_complete(self, file_size: int) -> None:
        return None
