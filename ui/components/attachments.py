"""Customers' photos and PDFs: an image shown inline, a PDF as a download with its name and size.

A file name is what a customer typed: it is shown as plain text (escaped, never a link or
markup), and an image's alternative text is an attribute, not markdown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from agent.domain.attachments import IMAGE_TYPES, AttachmentRef, human_size, sniff_content_type
from agent.errors import SupportError
from ui.components.text import plain

IMAGE_WIDTH = 320  # pixels: large enough to see a crack in a screen, small enough for a bubble
# File types the chat input offers to pick (a convenience only: the desk checks the bytes).
PICKABLE_TYPES = ["png", "jpg", "jpeg", "gif", "webp", "pdf"]

Loader = Callable[[AttachmentRef], bytes]


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _cached_bytes(_support: Any, user_id: str, thread_id: str, attachment_id: str) -> bytes:
    # An attachment never changes under its id. Cached per user, so an access check was done
    # for this very user; a page refreshing every few seconds does not fetch it again.
    return _support.attachment(user_id, thread_id, attachment_id).data


def loader_for(support: Any, user_id: str, thread_id: str) -> Loader:
    """Reads a thread's attachments through the desk, as `user_id` (who must be allowed)."""
    return lambda ref: _cached_bytes(support, user_id, thread_id, ref.id)


def attachment_list(refs: Sequence[AttachmentRef], load: Loader, *, key: str) -> None:
    """Each attachment: an image inline with its name and size, a PDF as a download button."""
    for ref in refs:
        if ref.is_image:
            _image(ref, load)
        else:
            st.download_button(f"{plain(ref.name)} ({human_size(ref.size)})",
                               data=lambda ref=ref: load(ref), file_name=ref.name,
                               mime=ref.content_type, icon=":material/picture_as_pdf:",
                               key=f"{key}-{ref.id}", on_click="ignore")


def uploaded_list(files: Sequence[Any]) -> None:
    """Files just picked in the chat input, shown like stored ones while the turn runs.

    Not checked yet (the desk does that next): an image is drawn only if its bytes say it is
    one, and one that cannot be drawn is named instead.
    """
    for file in files:
        data = file.getvalue()
        name = str(file.name)
        if sniff_content_type(data) in IMAGE_TYPES and _drawn(data, name):
            st.caption(f":material/image: {plain(name)} · {human_size(len(data))}")
        else:
            st.caption(f":material/attach_file: {plain(name)} · {human_size(len(data))}")


def _image(ref: AttachmentRef, load: Loader) -> None:
    try:
        data = load(ref)
    except SupportError as exc:
        st.caption(f":material/broken_image: {plain(ref.name)} cannot be shown: "
                   f"{plain(str(exc))}")
        return
    if _drawn(data, ref.name):
        st.caption(f":material/image: {plain(ref.name)} · {human_size(ref.size)}")
    else:
        st.caption(f":material/broken_image: {plain(ref.name)} · {human_size(ref.size)} "
                   "(the image cannot be drawn)")


def _drawn(data: bytes, name: str) -> bool:
    """Draw an image; False if it cannot be (right first bytes, damaged rest)."""
    try:
        st.image(data, width=IMAGE_WIDTH, alt=name)
    except Exception:  # the imaging library's many errors for a damaged file
        return False
    return True
