"""Chat: a customer's messages, and resuming what a crash left pending."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.types import StateSnapshot

from agent.domain.attachments import check_uploads
from agent.errors import InvalidInput
from agent.persistence.threads import ThreadRecord
from agent.service.access import (
    DEFAULT_TITLE,
    clean_title,
    page_bounds,
)
from agent.service.attachments import AttachmentDesk
from agent.service.convert import collect
from agent.text import storable_text
from agent.turns import (
    Plan,
    Run,
    TurnStream,
    has_pending_work,
)
from agent.views import TurnResult


class ChatDesk(AttachmentDesk):
    """Chat: customer messages and resuming work a crash left pending."""

    def send_message(self, user_id: str, text: str, *, thread_id: str | None = None,
                     attachments: Sequence[Any] = ()) -> TurnStream:
        """Send a customer message and stream the turn (a new thread if `thread_id` is None).

        `attachments`: photos (PNG, JPEG, GIF, WebP) or PDFs, each an AttachmentUpload or a
        (name, content type, bytes) triple; what a file is comes from its bytes. The message
        carries references only. Any refused file refuses the whole message: nothing is
        stored and no turn runs. A message with files may have no text.
        A turn a crash left unfinished on this thread is completed first, in the same stream.
        """
        created = thread_id is None
        if created:
            user = self._customer(user_id)
        else:
            user, record = self._customer_and_thread(user_id, thread_id)
        uploads = check_uploads(attachments or (), self.settings.attachment_max_bytes)
        if uploads and not storable_text(text or "", "the message").strip():
            text = ""
        else:
            text = self._valid_message(text)
        title = clean_title(text or ", ".join(upload.name for upload in uploads))
        if created:
            record = self.threads.create(user.tenant, user.user_id, title)

        def prepare(head: StateSnapshot) -> Plan:
            if head.interrupts:
                raise InvalidInput("this thread is waiting for a supervisor to decide on a "
                                   "requested action; you can write again once it is decided")
            if record.title == DEFAULT_TITLE:
                self.threads.set_title(record.thread_id, title)
            # Under the thread's lock, once the turn is sure to run: a refused turn stores
            # nothing, and the checkpoint naming the files follows at once.
            message = Run.message(text, self._store_attachments(record, uploads))
            return (Run.pending_work(), message) if has_pending_work(head) else (message,)

        try:
            return self.turns.start(record, prepare, discard_if_empty=created)
        except BaseException:
            if created:
                self.threads.delete(record.thread_id)
            raise

    def ask(self, user_id: str, text: str, *, thread_id: str | None = None,
            attachments: Sequence[Any] = ()) -> TurnResult:
        """Send a message (with any attachments) and wait for the whole turn."""
        return collect(self.send_message(user_id, text, thread_id=thread_id,
                                         attachments=attachments))

    def resume(self, user_id: str, thread_id: str) -> TurnStream:
        """Finish the work a crash left pending on a thread (owner or a tenant supervisor)."""
        record = self._readable_thread(self.user(user_id), thread_id)

        def prepare(head: StateSnapshot) -> Plan:
            if head.interrupts:
                self.turns.record_status(record, head)
                raise InvalidInput("this thread waits for a supervisor's decision, not for a "
                                   "resume; approve or reject the request")
            if not has_pending_work(head):
                self.turns.record_status(record, head)
                raise InvalidInput("nothing to resume: the thread's last turn finished")
            return (Run.pending_work(),)

        return self.turns.start(record, prepare)

    def interrupted_threads(self, supervisor_id: str, *, limit: int = 100) -> list[ThreadRecord]:
        """Threads of the supervisor's tenant that a crash left with unfinished work."""
        supervisor = self._supervisor(supervisor_id)
        self._reconcile_tenant(supervisor.tenant)
        return self.threads.list_by_status(supervisor.tenant, "interrupted",
                                           limit=page_bounds(limit, 0)[0])
