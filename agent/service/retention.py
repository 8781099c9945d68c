"""Retention: sweep old checkpoints on request (`support-agent gc`) or in the background."""

from __future__ import annotations

import logging
import threading

from agent.backends.blob_sweep import remove_unreferenced_attachments
from agent.backends.retention import (
    AttachmentSweep,
    RetentionPolicy,
    RetentionReport,
    sweep,
)
from agent.service.access import DeskAccess

log = logging.getLogger(__name__)


class RetentionDesk(DeskAccess):
    """Retention: one sweep on request, and the optional in-process sweeper."""

    _sweeper: threading.Thread | None = None
    _sweeper_stop: threading.Event | None = None

    def collect_garbage(self, *, dry_run: bool = False, keep: int | None = None,
                        idle_days: float | None = None, strategy: str | None = None,
                        vacuum: bool = False) -> RetentionReport:
        """One retention sweep; the arguments override the settings for this sweep only."""
        policy = RetentionPolicy.from_settings(self.settings, keep=keep, idle_days=idle_days,
                                               strategy=strategy, dry_run=dry_run,
                                               vacuum=vacuum)
        return sweep(self.persistence, self.threads, policy,
                     attachment_sweep=self.attachment_sweep(), stop=self._sweeper_stop)

    def attachment_sweep(self) -> AttachmentSweep | None:
        """What removes the attachment blobs no kept checkpoint references (None when the
        backend keeps no attachments)."""
        if self.persistence.blobs is None:
            return None
        registry = self.threads

        def remove(backend, dry_run: bool) -> int | None:
            # A dry run reports the checkpoints it would drop; which blobs they free is only
            # known once they are gone, so it changes nothing here and says nothing.
            return None if dry_run else remove_unreferenced_attachments(backend, registry)

        return remove

    def start_retention_sweeper(self) -> None:
        """Sweep every `retention_sweep_minutes` in a daemon thread (when that is set)."""
        minutes = self.settings.retention_sweep_minutes
        if not minutes or self._sweeper is not None:
            return
        self._sweeper_stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_every, args=(minutes * 60.0,),
                                         name="retention-sweeper", daemon=True)
        self._sweeper.start()

    def stop_retention_sweeper(self) -> None:
        """Stop the sweeper (a sweep under way stops after its current thread)."""
        if self._sweeper_stop is not None:
            self._sweeper_stop.set()
        if self._sweeper is not None:
            self._sweeper.join()
        self._sweeper = None
        self._sweeper_stop = None

    def _sweep_every(self, seconds: float) -> None:
        stop = self._sweeper_stop
        assert stop is not None
        while not stop.wait(seconds):
            try:
                report = self.collect_garbage()
            except Exception:  # the app goes on; the next sweep tries again
                log.exception("retention sweep failed")
                continue
            log.info("retention sweep: %d threads, %d trimmed, %d deleted, %d busy, "
                     "%d checkpoints deleted", report.threads_scanned, report.threads_trimmed,
                     report.threads_deleted, report.threads_skipped_busy,
                     report.checkpoints_deleted)
