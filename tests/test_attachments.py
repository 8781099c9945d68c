"""Attachments: photos and PDFs stored by reference in a blob store of each kind.

Real stores only: a folder beside a real SQLite file, the PostgreSQL table, the memory saver's,
and S3 through boto3 against a real S3-compatible HTTP server (moto's, on 127.0.0.1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.files import padded_png, pdf_bytes, png_bytes

from agent.backends import open_backend
from agent.backends.blob_sweep import remove_unreferenced_attachments
from agent.backends.blobs import BlobStore, FolderBlobStore, blob_id_of
from agent.domain.attachments import (
    MAX_ATTACHMENTS,
    AttachmentIndex,
    AttachmentUpload,
    human_size,
    sniff_content_type,
)
from agent.errors import ConfigError, InvalidInput, NotFound
from agent.service import SupportDesk
from agent.settings import Settings

MB = 1024 * 1024
LATER = 2 * 3600  # seconds: past the sweep's grace period


# --- an S3-compatible server of the tests' own ------------------------------------------------

@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1 (a real HTTP server boto3 talks to)."""
    server_module = pytest.importorskip("moto.server", reason="install the dev extra (moto)")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3_server: str, monkeypatch: pytest.MonkeyPatch,
                make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings for an s3 blob store on a fresh bucket of the test server."""
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"attachments-{os.urandom(4).hex()}"
    client = boto3.client("s3", endpoint_url=s3_server)
    client.create_bucket(Bucket=bucket)
    client.close()

    def build(saver: str = "sqlite", **overrides) -> Settings:
        return make_settings(saver, blob_store="s3", s3_bucket=bucket,
                             s3_endpoint_url=s3_server, s3_prefix="t/att/", **overrides)

    return build


STORE_KINDS = [
    pytest.param("folder", id="folder"),
    pytest.param("memory", id="memory"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("s3", id="s3"),
]


@pytest.fixture(params=STORE_KINDS)
def store_settings(request: pytest.FixtureRequest,
                   make_settings: Callable[..., Settings]) -> Settings:
    """Settings whose backend gets one blob store kind."""
    kind = request.param
    if kind == "folder":
        return make_settings("sqlite")
    if kind == "memory":
        return make_settings("memory")
    if kind == "postgres":
        return make_settings("postgres")
    return request.getfixturevalue("s3_settings")()


# --- the store contract, on every kind --------------------------------------------------------

def test_each_blob_store_kind_puts_gets_lists_and_deletes(store_settings: Settings) -> None:
    """Content-addressed ids; the same bytes stored once; unknown or malformed ids not found."""
    backend = open_backend(store_settings)
    try:
        store: BlobStore = backend.blobs
        expected = {"sqlite": "folder", "memory": "memory", "postgres": "postgres"}
        assert store.kind == ("s3" if store_settings.blob_store == "s3"
                              else expected[store_settings.saver])
        photo, receipt = png_bytes(), pdf_bytes()
        first = store.put(photo)
        assert first == blob_id_of(photo) and store.put(photo) == first
        second = store.put(receipt)
        assert store.get(first) == photo and store.get(second) == receipt
        assert set(store.list_ids()) == {first, second}
        assert set(store.list_ids(written_before=time.time() - 60)) == set()
        assert set(store.list_ids(written_before=time.time() + 60)) == {first, second}
        for wrong in ("0" * 64, "../../etc/passwd", "", first.upper()):
            with pytest.raises(NotFound):
                store.get(wrong)
        assert store.delete([first, "not-an-id", "../" + second]) == 1
        store.delete(["0" * 64])  # nothing there: nothing to do
        assert set(store.list_ids()) == {second}
        with pytest.raises(NotFound):
            store.get(first)
    finally:
        backend.close()


def test_the_folder_store_sits_beside_the_sqlite_file_and_writes_whole_files(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """`<file>.blobs/` by default, SUPPORT_BLOB_DIR when set; no temp file is left behind."""
    settings = make_settings("sqlite")
    backend = open_backend(settings)
    try:
        blob_id = backend.blobs.put(png_bytes())
        folder = settings.sqlite_path.with_name(settings.sqlite_path.name + ".blobs")
        assert (folder / blob_id[:2] / blob_id).read_bytes() == png_bytes()
        assert [p.name for p in folder.rglob("*") if p.is_file()] == [blob_id]
    finally:
        backend.close()
    elsewhere = tmp_path / "elsewhere"
    backend = open_backend(make_settings("sqlite", blob_dir=str(elsewhere)))
    try:
        assert isinstance(backend.blobs, FolderBlobStore) and backend.blobs.root == elsewhere
    finally:
        backend.close()


def test_a_blob_store_that_cannot_serve_the_saver_is_a_clear_config_error(
        make_settings: Callable[..., Settings]) -> None:
    """postgres without PostgreSQL, folder without a place, s3 without a bucket."""
    with pytest.raises(ConfigError, match="SUPPORT_BLOB_STORE=postgres needs SUPPORT_SAVER"):
        open_backend(make_settings("sqlite", blob_store="postgres"))
    with pytest.raises(ConfigError, match="needs SUPPORT_BLOB_DIR"):
        open_backend(make_settings("memory", blob_store="folder"))
    with pytest.raises(ConfigError, match="needs SUPPORT_S3_BUCKET"):
        open_backend(make_settings("memory", blob_store="s3"))


# --- sending, on every store kind -------------------------------------------------------------

def test_a_message_with_a_photo_keeps_it_by_reference_on_every_store_kind(
        store_settings: Settings) -> None:
    """The bytes go to the store; the thread shows the reference; the model reads its name."""
    photo = png_bytes()
    with SupportDesk.open(store_settings) as desk:
        result = desk.ask("alice", "refund ORD-1001 the screen is cracked",
                          attachments=[AttachmentUpload("screen.png", "image/png", photo)])
        assert result.status == "awaiting_approval"
        customer = desk.view_thread("alice", result.thread_id).messages[0]
        assert customer.text == "refund ORD-1001 the screen is cracked"
        [ref] = customer.attachments
        assert (ref.name, ref.content_type, ref.size) == ("screen.png", "image/png", len(photo))
        assert desk.attachment("alice", result.thread_id, ref.id).data == photo
        assert desk.thread_attachments("sam", result.thread_id) == [ref]
        assert list(desk.persistence.blobs.list_ids()) == [blob_id_of(photo)]
        state = desk.turns.state(result.thread_id).values["messages"][0]
        assert state.text.endswith(f"[attached screen.png (image/png, {human_size(len(photo))})]")
        # The supervisor's card quotes the message with the file named.
        [pending] = desk.pending_approvals("sam")
        assert any("screen.png" in line for line in pending.excerpt)


@pytest.mark.parametrize("saver", ["sqlite", "memory"])
def test_what_a_file_is_comes_from_its_bytes_not_its_name_or_claimed_type(
        saver: str, make_settings: Callable[..., Settings]) -> None:
    """A PDF named .png is kept as a PDF; every allowed kind is recognised."""
    gif, jpeg, webp = b"GIF89a" + b"\0" * 20, b"\xff\xd8\xff\xe0" + b"\0" * 20, \
        b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 16
    assert [sniff_content_type(data) for data in (png_bytes(), gif, jpeg, webp, pdf_bytes())] \
        == ["image/png", "image/gif", "image/jpeg", "image/webp", "application/pdf"]
    with SupportDesk.open(make_settings(saver)) as desk:
        result = desk.ask("alice", "my receipt", attachments=[
            ("receipt.png", "image/png", pdf_bytes()), ("photo", "text/plain", jpeg)])
        refs = desk.view_thread("alice", result.thread_id).messages[0].attachments
        assert [(r.name, r.content_type) for r in refs] == [
            ("receipt.png", "application/pdf"), ("photo", "image/jpeg")]


def test_a_message_may_be_only_files(make_settings: Callable[..., Settings]) -> None:
    """No text with a file is a message; its thread is titled after the file."""
    with SupportDesk.open(make_settings("sqlite")) as desk:
        result = desk.ask("alice", "", attachments=[("label.pdf", "application/pdf",
                                                     pdf_bytes())])
        view = desk.view_thread("alice", result.thread_id)
        assert view.thread.title == "label.pdf"
        assert view.messages[0].text == "" and view.messages[0].attachments[0].name == "label.pdf"
        with pytest.raises(InvalidInput, match="the message is empty"):
            desk.ask("alice", "  ", thread_id=result.thread_id)


# --- refusals: nothing stored, no turn --------------------------------------------------------

REFUSED = [
    pytest.param([("big.png", "image/png", padded_png(2 * MB + 1))],
                 r"'big.png' is 2\.0 MB; the limit is 2\.0 MB \(SUPPORT_ATTACHMENT_MAX_BYTES\)",
                 id="too-big"),
    pytest.param([("notes.png", "image/png", b"just some text, not a picture")],
                 "'notes.png' is not a file type we accept", id="text-claiming-png"),
    pytest.param([("page.html", "text/html", b"<html><script>alert(1)</script></html>")],
                 "'page.html' is not a file type we accept", id="html"),
    pytest.param([("pic.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>")],
                 "'pic.svg' is not a file type we accept", id="svg"),
    pytest.param([("empty.png", "image/png", b"")], r"'empty.png' is empty \(0 bytes\)",
                 id="empty"),
    pytest.param([("a\x00b.png", "image/png", png_bytes())],
                 r"control or formatting character \(U\+0000\)", id="nul-in-name"),
    pytest.param([("a\nb.png", "image/png", png_bytes())],
                 r"control or formatting character \(U\+000A\)", id="newline-in-name"),
    pytest.param([("gpj\u202e.exe", "image/png", png_bytes())],
                 r"control or formatting character \(U\+202E\)", id="rtl-override"),
    pytest.param([("../../etc/passwd.png", "image/png", png_bytes())], "contains a path",
                 id="path"),
    pytest.param([("C:\\photos\\x.png", "image/png", png_bytes())], "contains a path",
                 id="windows-path"),
    pytest.param([("..", "image/png", png_bytes())], "contains a path", id="dot-dot"),
    pytest.param([(" ", "image/png", png_bytes())], "has no file name", id="no-name"),
    pytest.param([("x" * 300 + ".png", "image/png", png_bytes())], "the limit is 200",
                 id="long-name"),
    pytest.param([(f"p{n}.png", "image/png", png_bytes()) for n in range(MAX_ATTACHMENTS + 1)],
                 f"{MAX_ATTACHMENTS + 1} files attached; at most {MAX_ATTACHMENTS}",
                 id="too-many"),
    pytest.param([("ok.png", "image/png", png_bytes()), ("bad.exe", "image/png", b"MZ\x90")],
                 "'bad.exe' is not a file type", id="one-bad-among-good"),
]


@pytest.mark.parametrize(("files", "problem"), REFUSED)
def test_a_refused_file_refuses_the_message_and_stores_nothing(
        files: list, problem: str, make_settings: Callable[..., Settings]) -> None:
    """InvalidInput names the problem; no thread, index row, blob or checkpoint is made."""
    settings = make_settings("sqlite", attachment_max_bytes=2 * MB)
    with SupportDesk.open(settings) as desk:
        existing = desk.ask("alice", "Where is ORD-1002?").thread_id
        heads = len(desk.history("alice", existing, limit=200))
        for thread_id in (None, existing):
            with pytest.raises(InvalidInput, match=problem):
                desk.ask("alice", "refund ORD-1001 please", thread_id=thread_id,
                         attachments=files)
        assert [t.thread_id for t in desk.list_threads("alice").threads] == [existing]
        assert len(desk.history("alice", existing, limit=200)) == heads
        assert AttachmentIndex(desk.persistence.db).thread_ids() == []
        assert list(desk.persistence.blobs.list_ids()) == []


def test_a_file_sent_to_a_thread_waiting_for_a_supervisor_is_not_kept(
        make_settings: Callable[..., Settings]) -> None:
    """The turn is refused under the lock, before the files would be stored."""
    with SupportDesk.open(make_settings("sqlite")) as desk:
        waiting = desk.ask("alice", "refund ORD-1001 it broke").thread_id
        with pytest.raises(InvalidInput, match="waiting for a supervisor"):
            desk.ask("alice", "here is a photo", thread_id=waiting,
                     attachments=[("p.png", "image/png", png_bytes())])
        assert desk.thread_attachments("alice", waiting) == []
        assert list(desk.persistence.blobs.list_ids()) == []


# --- the checkpoint holds a reference only ----------------------------------------------------

def _head_checkpoint_bytes(desk: SupportDesk, thread_id: str) -> int:
    """The serialized size of the thread's head checkpoint, as the SQLite saver stores it."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(desk.settings.sqlite_path)) as conn:
        row = conn.execute("SELECT length(checkpoint) FROM checkpoints WHERE thread_id = ?"
                           " ORDER BY checkpoint_id DESC LIMIT 1", (thread_id,)).fetchone()
    return int(row[0])


def test_a_5_mb_photo_adds_under_1_kb_to_the_checkpoint(
        make_settings: Callable[..., Settings]) -> None:
    """The same message with and without a 5 MB photo: heads differ by less than 1 KB."""
    text = "Where is ORD-1002? The box looked crushed"
    with SupportDesk.open(make_settings("sqlite")) as desk:
        plain = desk.ask("alice", text).thread_id
        with_photo = desk.ask("alice", text, attachments=[
            ("cracked-screen.jpg", "image/jpeg", b"\xff\xd8\xff" + os.urandom(5 * MB - 3))
        ]).thread_id
        without = _head_checkpoint_bytes(desk, plain)
        grown = _head_checkpoint_bytes(desk, with_photo) - without
        assert 0 < grown < 1024, (without, grown)
        # The bytes are in the store, whole.
        [ref] = desk.thread_attachments("alice", with_photo)
        assert ref.size == 5 * MB
        assert len(desk.attachment("alice", with_photo, ref.id).data) == 5 * MB


# --- who may read an attachment ---------------------------------------------------------------

@pytest.mark.parametrize("saver", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_only_the_owner_and_the_tenants_supervisors_read_an_attachment(
        saver: str, make_settings: Callable[..., Settings]) -> None:
    """bob (same tenant), gina (another tenant's supervisor) and wrong ids get "not found"."""
    photo = png_bytes()
    with SupportDesk.open(make_settings(saver)) as desk:
        alices = desk.ask("alice", "the parcel arrived damaged",
                          attachments=[("box.png", "image/png", photo)]).thread_id
        [ref] = desk.thread_attachments("alice", alices)
        assert desk.attachment("alice", alices, ref.id).data == photo
        assert desk.attachment("sam", alices, ref.id).ref == ref
        bobs = desk.ask("bob", "hello").thread_id
        for user, thread_id, attachment_id in [
                ("bob", alices, ref.id), ("bob", bobs, ref.id), ("gina", alices, ref.id),
                ("alice", bobs, ref.id), ("alice", alices, "a_" + "0" * 32),
                ("alice", alices, "../" + ref.id), ("alice", alices, "")]:
            with pytest.raises(NotFound):
                desk.attachment(user, thread_id, attachment_id)
        with pytest.raises(NotFound):
            desk.thread_attachments("bob", alices)


# --- removing what nothing references ---------------------------------------------------------

def test_unreferenced_attachments_are_removed_and_referenced_ones_kept(
        settings: Settings) -> None:
    """Deleted threads' files go; a thread's kept checkpoints keep theirs; young ones wait;
    a blob two threads share stays while one still needs it; stray blobs go."""
    shared, own, lost = png_bytes(rgb=(1, 2, 3)), pdf_bytes(), png_bytes(rgb=(9, 9, 9))
    with SupportDesk.open(settings) as desk:
        backend, registry = desk.persistence, desk.threads
        kept = desk.ask("alice", "photo of the box",
                        attachments=[("box.png", "image/png", shared)]).thread_id
        deleted = desk.ask("bob", "same photo and a receipt", attachments=[
            ("box.png", "image/png", shared), ("r.pdf", "application/pdf", own)]).thread_id
        dropped = desk.ask("carol", "a photo", attachments=[("x.png", "image/png", lost)]
                           ).thread_id
        stray = backend.blobs.put(b"%PDF-left behind by a crash")
        desk.delete_thread("bob", deleted)
        # Retention dropped every checkpoint naming carol's file (here: all of them).
        backend.checkpointer.delete_thread(dropped)

        # Right now everything is young: only the deleted thread's rows go, no blob yet.
        assert remove_unreferenced_attachments(backend, registry) == 0
        index = AttachmentIndex(backend.db)
        assert sorted(index.thread_ids()) == sorted([kept, dropped])

        removed = remove_unreferenced_attachments(backend, registry, now=time.time() + LATER)
        assert removed == 3  # bob's receipt, carol's photo, the stray blob
        assert index.thread_ids() == [kept]
        assert set(backend.blobs.list_ids()) == {blob_id_of(shared)}
        [ref] = desk.thread_attachments("alice", kept)
        assert desk.attachment("alice", kept, ref.id).data == shared
        with pytest.raises(NotFound):
            backend.blobs.get(stray)
        assert remove_unreferenced_attachments(backend, registry, now=time.time() + LATER) == 0


def test_the_sweep_reads_encrypted_checkpoints_through_the_saver(
        make_settings: Callable[..., Settings]) -> None:
    """With checkpoints encrypted and compressed, a referenced file is still found and kept."""
    settings = make_settings("sqlite", encryption_key="k" * 32, compress_checkpoints=True)
    with SupportDesk.open(settings) as desk:
        thread_id = desk.ask("alice", "photo", attachments=[
            ("p.png", "image/png", png_bytes())]).thread_id
        assert remove_unreferenced_attachments(desk.persistence, desk.threads,
                                               now=time.time() + LATER) == 0
        assert len(desk.thread_attachments("alice", thread_id)) == 1
        assert len(list(desk.persistence.blobs.list_ids())) == 1


def test_the_s3_store_serves_a_whole_conversation(s3_settings: Callable[..., Settings]) -> None:
    """Send, read back and sweep with the bytes in a bucket on a real S3-compatible server."""
    with SupportDesk.open(s3_settings("sqlite")) as desk:
        thread_id = desk.ask("alice", "my receipt", attachments=[
            ("r.pdf", "application/pdf", pdf_bytes())]).thread_id
        [ref] = desk.thread_attachments("sam", thread_id)
        assert desk.attachment("sam", thread_id, ref.id).data == pdf_bytes()
        desk.delete_thread("alice", thread_id)
        assert remove_unreferenced_attachments(desk.persistence, desk.threads,
                                               now=time.time() + LATER) == 1
        assert list(desk.persistence.blobs.list_ids()) == []


# --- layers -----------------------------------------------------------------------------------

def test_the_attachment_domain_loads_no_driver_and_no_persistence() -> None:
    """Like the rest of the domain: it is handed a database, never opens one."""
    code = ("import sys, agent.domain.attachments\n"
            "low = ('agent.persistence', 'agent.backends', 'psycopg', 'redis', 'boto3')\n"
            "print([m for m in sys.modules if m.startswith(low)])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
