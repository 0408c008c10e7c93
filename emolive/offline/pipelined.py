"""The pipelined offline path: decoding, transcription and the voice look-ahead in threads of their own, ahead
of the steps, as fast as they go; the rows equal the step-wise reference's."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from emolive.asr.packing import MAX_HOLD_S
from emolive.capture.media_file import MediaFileSource
from emolive.core.contracts import AudioBlock, TranscriptSegment
from emolive.offline.steps import StepRun
from emolive.offline.voice_ahead import VoiceAhead

log = logging.getLogger(__name__)


_END = object()
LOOKAHEAD_S = 2 * MAX_HOLD_S  # how far the transcriber reads past the steps (a held utterance waits at most half)


class Transcription:
    """The transcriber fed from its own reading of the file's audio (``audio``), in a thread of its own
    (pipelined) or pulled by the steps (``pump_until``, the step-wise reference): the same feed/step calls either
    way, so the same segments.

    ``seen``: every segment stamped at or before it has been published (file clock), so a step at ``t <= seen``
    has every segment it would ever get. It is the end of the newest audio block processed, or just before the
    commit time of the oldest utterance the stream holds for a packed decode (``StreamingTranscriber.held_from``):
    reading its own audio, the transcriber collects the next utterances while the steps wait there. At the end of
    its audio it decodes what it holds, then waits for the end time (``blocks``: the decode thread's end mark) to
    ``finish``.
    """

    def __init__(self, stream: Any, run: StepRun, stop: threading.Event, audio: Iterable[AudioBlock]) -> None:
        self.stream, self.run, self.stop = stream, run, stop
        self.audio: Iterator[AudioBlock] = iter(audio)
        self.blocks: queue.Queue = queue.Queue(maxsize=4)  # the end mark
        self.segments: list[TranscriptSegment] = []
        self.seen = -1.0
        self.done = False
        self.error: BaseException | None = None
        self.compute_s = 0.0
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._loop, name="emolive-analysis-asr", daemon=True)
        self.processed = 0  # audio blocks fed to the stream (counting those before a restored snapshot)
        self.emitted = 0  # segments the stream emitted (the same count)
        self.drop = 0  # segments still to drop after a restore (the step thread has them)
        self.next_asr = run.asr_every
        self.skip = 0  # audio blocks of the own reading that a restored snapshot had processed
        self.end_of_audio = 0.0
        self.wanted = 0.0  # the newest step time the step thread waited for
        self.ended = False  # the own reading of the audio has ended
        self.period = run.snapshots.period if run.snapshots is not None else 0.0
        self.next_index = run.snapshots.index + 1 if run.snapshots is not None else 0  # the next checkpoint
        self.snaps: list[dict[str, Any]] = []  # taken here, collected by the step thread (under ``changed``)
        point = run.resume
        if point is not None and point.asr_state is not None:
            self.processed, self.emitted = point.asr_blocks, int(point.asr_state["emitted"])
            self.skip = point.asr_blocks
            self.drop, self.next_asr = point.asr_drop, float(point.asr_state["next_asr"])

    def snapshot_for(self, index: int, received: int) -> dict[str, Any] | None:
        """The newest snapshot taken for checkpoint ``index`` or before whose segments the step thread has all
        received (it and older ones are then forgotten), or None."""
        with self.changed:
            usable = [x for x in self.snaps if x["index"] <= index and x["emitted"] <= received]
            if usable:
                self.snaps = [x for x in self.snaps if x["index"] > usable[-1]["index"]]
                return usable[-1]
            return None

    def _snapshot(self, end: float) -> dict[str, Any] | None:
        """After the block ending at ``end``: the stream's state if this is the first block to reach the next
        checkpoint time (published with the block's segments, see ``Snapshotter``)."""
        if not self.period or end + 1e-9 < self.next_index * self.period:
            return None
        index = int((end + 1e-9) // self.period)  # a long block may reach several checkpoints: the newest
        snap = {"stream": self.stream.state(), "next_asr": self.next_asr, "blocks": self.processed,
                "emitted": self.emitted, "index": index}
        self.next_index = index + 1
        return snap

    def _loop(self) -> None:
        try:
            while not self.stop.is_set() and self._ahead_ok() and self._next():
                pass
            while not self.stop.is_set():
                try:
                    item = self.blocks.get(timeout=0.1)
                except queue.Empty:
                    continue
                self._close(item[1])  # the step thread collects the segments (``wait_until``)
                return
        except BaseException as exc:  # handed to the main thread, which raises it
            with self.changed:
                self.error, self.done = exc, True
                self.changed.notify_all()

    def _ahead_ok(self) -> bool:
        """Wait while this thread is ``LOOKAHEAD_S`` past the newest step time asked for (the speech timeline it
        shares with the voice channel keeps 600 s); False when stopped."""
        with self.changed:
            while self.end_of_audio > self.wanted + LOOKAHEAD_S and not self.stop.is_set():
                self.changed.wait(0.1)
        return not self.stop.is_set()

    def _next(self) -> bool:
        """Process the next audio block of the own reading (skipping those a restored snapshot had); at the end
        of the audio, decode what the stream holds. False once the audio has ended."""
        t0 = time.perf_counter()
        item = next(self.audio, None)
        while item is not None and self.skip:
            self.skip -= 1
            item = next(self.audio, None)
        if item is None:
            release = getattr(self.stream, "release_held", None)
            out = self._count(release()) if release is not None else []
            self.compute_s += time.perf_counter() - t0
            self._publish(out, self.end_of_audio, ended=True)
            return False
        self.stream.feed(item)
        self.processed += 1
        end = self.end_of_audio = item.t + item.duration
        out: list[TranscriptSegment] = []
        if end >= self.next_asr:
            out = self.stream.step(end)
            self.next_asr = end + self.run.asr_every
        self.compute_s += time.perf_counter() - t0
        self._publish(self._count(out), end, snap=self._snapshot(end))
        return True

    def finish(self, end: float) -> list[TranscriptSegment]:
        """Step-wise: the end of the media (at ``end``): close the stream; the segments not yet taken."""
        self._close(end)
        return self.take()

    def _close(self, end: float) -> None:
        """Close the stream at ``end`` and publish its last segments (pipelined: only the step thread takes them,
        so none published before is lost)."""
        t0 = time.perf_counter()
        out = self._count(self.stream.finish(end))
        self.compute_s += time.perf_counter() - t0
        self._publish(out, float("inf"), done=True)

    def pump_until(self, t: float) -> list[TranscriptSegment]:
        """Step-wise: process the audio until ``seen`` reaches ``t`` (or the audio ends); the new segments."""
        while self.seen < t and not self.ended and self._next():
            pass
        return self.take()

    def take(self) -> list[TranscriptSegment]:
        with self.changed:
            out, self.segments = self.segments, []
            return out

    def _count(self, out: list[TranscriptSegment]) -> list[TranscriptSegment]:
        """Count emitted segments; after a restore, drop those the step thread already has."""
        self.emitted += len(out)
        if self.drop:
            n = min(self.drop, len(out))
            self.drop -= n
            out = out[n:]
        return out

    def _publish(self, segments: list[TranscriptSegment], seen: float, done: bool = False, ended: bool = False,
                 snap: dict[str, Any] | None = None) -> None:
        held = getattr(self.stream, "held_from", None)
        if held is not None:
            seen = min(seen, held - 1e-6)
        with self.changed:
            if snap is not None:
                self.snaps.append(snap)
            self.segments += segments
            self.seen = seen
            self.done = done
            self.ended = self.ended or ended
            self.changed.notify_all()

    def wait_until(self, t: float) -> list[TranscriptSegment]:
        """Block until every segment stamped up to ``t`` is published (or the stream ended); the new segments."""
        with self.changed:
            self.wanted = max(self.wanted, t)
            self.changed.notify_all()
            while not (self.seen >= t or self.done or self.stop.is_set()):
                self.changed.wait(0.1)
            if self.error is not None:
                raise self.error
            out, self.segments = self.segments, []
            return out


def _put(target: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            target.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def run_pipelined(source: MediaFileSource, run: StepRun, stream: Any,
                  progress: Callable[[float], None] | None) -> float:
    """Decoding and transcription in their own threads, the steps here; the rows equal ``analysis._stepwise``'s."""
    stop = threading.Event()
    items: queue.Queue = queue.Queue(maxsize=64)
    asr = Transcription(stream, run, stop, source.iter_media(video=False)) if stream is not None else None
    point, snapshots = run.resume, run.snapshots
    ahead = None
    if run.worker.voice is not None:  # the voice windows in a thread of their own, ahead of the steps
        ahead = VoiceAhead(run.worker.voice, run.worker.config, run.worker.base_detect_every, stop,
                           hold_every_s=snapshots.period if snapshots is not None else 0.0)
        if point is not None:  # it goes on from the restored step, with the worker's voice decisions and audio
            ahead.restore(run.step_index - 1, run.worker.voice_windows_state(),
                          run.audio.state(run.audio.capacity / run.audio.sample_rate),
                          snapshots.index if snapshots is not None else 0)
        run.worker.voice = ahead
    skip_items = point.items if point is not None else 0

    def step() -> None:
        run.emit()
        if snapshots is not None:  # at every step, also the last ones: the voice look-ahead waits for it
            snapshots.after_step(run.step_index - 1, round((run.step_index - 1) * run.hop, 6), asr, ahead)

    def decode() -> None:
        video_t, audio_t = (0.0 if run.has_video else float("inf")), (0.0 if run.has_audio else float("inf"))
        index = 0
        try:
            # only the frames a step reads are converted; the step-wise reference converts every frame
            for item in source.iter_media(images_from=point.frames if point is not None else 0, step_s=run.hop):
                index += 1
                if isinstance(item, AudioBlock):
                    audio_t = item.t + item.duration
                    if ahead is not None and index > skip_items and not ahead.put(item):  # before the steps
                        return
                else:
                    video_t = item.t
                if index > skip_items and not _put(items, item, stop):  # resumed: only what follows the snapshot
                    return
            ends = [t for t in (video_t + run.frame_s, audio_t) if t != float("inf")]
            end = max(ends) if ends else 0.0
            if asr is not None:
                _put(asr.blocks, (_END, end), stop)
            if ahead is not None:
                ahead.finish(end)
            _put(items, (_END, end), stop)
        except BaseException as exc:
            if asr is not None:
                _put(asr.blocks, (_END, 0.0), stop)
            if ahead is not None:
                ahead.finish(0.0)
            _put(items, exc, stop)

    decoder = threading.Thread(target=decode, name="emolive-analysis-decode", daemon=True)
    decoder.start()
    if asr is not None:
        asr.thread.start()
    if ahead is not None:
        ahead.thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, tuple) and item[0] is _END:
                end = item[1]
                break
            run.write(item)
            while run.next_t() <= run.ready:
                if asr is not None:
                    run.take(asr.wait_until(run.next_t()))
                step()
            if progress is not None:
                progress(run.ready)
        if asr is not None:
            run.take(asr.wait_until(float("inf")))
        while run.next_t() <= end + 1e-9:
            step()
        if run.pending:  # words committed at the very end get one last estimate (one hop on), as live
            step()
        return end
    finally:
        stop.set()
        decoder.join(timeout=5)
        if asr is not None:
            asr.thread.join(timeout=30)
            run.summary.asr_s += asr.compute_s
        if ahead is not None:
            ahead.thread.join(timeout=30)
            if ahead.inline:
                log.warning("%d voice windows were scored in the step thread (look-ahead out of step)", ahead.inline)
