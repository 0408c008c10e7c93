"""Checkpoints of an offline analysis: snapshots of the state the later steps depend on, taken at step
boundaries while the decoder, the transcriber and the voice look-ahead run ahead, and the restore from one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emolive.config import AppConfig
from emolive.core.abilities import Snapshotable, SnapshotableStream, is_stateless
from emolive.core.snapshot import SnapshotError, component_state, restore_component
from emolive.offline.steps import ResumePoint, StepRun
from emolive.offline.voice_ahead import VoiceAhead
from emolive.runtime.worker import InferenceWorker

if TYPE_CHECKING:
    from emolive.offline.pipelined import Transcription

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoints:
    """How often analysis snapshots are taken (media seconds) and who stores them (called in the step thread)."""

    every_s: float
    save: Callable[[dict[str, Any]], None]


SNAPSHOT_KIND = "emolive-analysis-state"
AUDIO_MARGIN_S = 0.5  # audio kept in a snapshot beyond the voice window


def cannot_snapshot(worker: InferenceWorker, stream: Any) -> str:
    """Why this run's state cannot be snapshot ("" when it can)."""
    for name, part in (("face channel", worker.face), ("voice channel", worker.voice),
                       ("text channel", worker.text), ("fuser", worker.fuser)):
        if part is not None and not is_stateless(part) and not isinstance(part, Snapshotable):
            return f"the {name} ({type(part).__name__}) has no state()/restore()"
    if stream is not None and not (isinstance(stream, SnapshotableStream) and stream.can_snapshot):
        return f"the transcription stream ({type(stream).__name__}) cannot be snapshot"
    return ""


class Snapshotter:
    """Takes the snapshots of one run, in the step thread, every ``every_steps`` steps (at step ``H``).

    Threads that run ahead of the steps keep their state at a point the step thread can use:

    - the transcriber takes its own state in its thread, after the first audio block whose end reaches ``H``,
      and publishes it with that block's segments (under one lock); it notes how many blocks it had processed and
      how many segments it had emitted. The step thread, at step ``H``, has waited until the transcriber saw the
      audio up to ``H``, so it has that snapshot and all of its segments; it stores both with how many segments it
      had received. On resume the transcriber restarts from its state with the blocks after its own and drops the
      first (received - emitted) segments it emits again: the step thread had them (in the worker, or pending in
      the step side's state). Emission on the file's clock is deterministic, so what follows is exactly the
      uninterrupted run's sequence.
    - the voice look-ahead (``VoiceAhead``) holds before any window of a step after ``H`` until ``release``, so at
      step ``H`` the voice channel's state is the step-wise one; it is released right after the save.
    - the speech timeline shared by the voice channel and the transcriber may have been computed further ahead by
      the transcriber; its probabilities do not depend on who computed them first, so a later state serves.
    """

    def __init__(self, checkpoints: Checkpoints, run: StepRun, config: AppConfig) -> None:
        self.save, self.run = checkpoints.save, run
        self.every_steps = max(1, int(round(checkpoints.every_s / run.hop)))
        self.period = self.every_steps * run.hop  # media seconds between two checkpoints
        self.audio_s = config.inference.voice_window_s + AUDIO_MARGIN_S
        self.channels = (run.worker.face, run.worker.voice, run.worker.text)  # before a look-ahead stands in
        self.index = (run.step_index - 1) // self.every_steps  # checkpoints passed (restored runs: not from 0)

    def after_step(self, step: int, t: float, asr: Transcription | None, ahead: VoiceAhead | None) -> None:
        """After step number ``step`` (at ``t``): take a snapshot when one is due, then let the look-ahead on."""
        if step % self.every_steps:
            return
        self.index = step // self.every_steps
        try:
            asr_state = None
            if asr is not None:
                asr_state = asr.snapshot_for(self.index, self.run.received)
                if asr_state is None:  # the audio ended before this checkpoint: no transcriber state to pair
                    log.debug("no transcriber snapshot for the checkpoint at t = %.2f s", t)
                    return
            run, worker = self.run, self.run.worker
            face, voice, text = self.channels
            state = {"kind": SNAPSHOT_KIND, "t": t, "every_steps": self.every_steps, "run": run.state(),
                     "worker": worker.state(), "fuser": worker.fuser.state(), "face": component_state(face),
                     "voice": component_state(voice), "text": component_state(text),
                     "frames": run.frames.state(t), "asr": asr_state,
                     # what a later voice window can read: a voice window before t up to the newest sample
                     "audio": run.audio.state(max(0.0, run.audio.end_time - t) + self.audio_s)}
            self.save(state)
        finally:
            if ahead is not None:
                ahead.release()


def restore_run(run: StepRun, stream: Any, state: dict[str, Any]) -> None:
    """Put a run back where ``state`` (from ``Snapshotter``) was taken; SnapshotError when it does not fit."""
    if state.get("kind") != SNAPSHOT_KIND:
        raise SnapshotError("not an analysis snapshot")
    if (state.get("asr") is None) != (stream is None):
        raise SnapshotError("the snapshot was taken with transcription " + ("off" if stream is not None else "on"))
    worker = run.worker
    try:
        run.restore(state["run"])
        worker.restore(state["worker"])
        worker.fuser.restore(state["fuser"])
        for part, key in ((worker.face, "face"), (worker.voice, "voice"), (worker.text, "text")):
            restore_component(part, state[key])
        run.frames.restore(state["frames"])
        run.audio.restore(state["audio"])
        asr = state["asr"]
        if asr is not None:
            stream.restore(asr["stream"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SnapshotError(f"the snapshot does not fit this analysis ({type(exc).__name__}: {exc})") from exc
    run.resume = ResumePoint(
        items=run.consumed, frames=run.frames_consumed,
        asr_blocks=int(asr["blocks"]) if asr is not None else 0,
        asr_drop=run.received - int(asr["emitted"]) if asr is not None else 0, asr_state=asr)
    if run.resume.asr_drop < 0:
        raise SnapshotError("the snapshot's transcriber state is newer than its step state")
