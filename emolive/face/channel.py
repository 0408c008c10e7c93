"""The face channel: detect (every few frames) -> track -> crop -> expression CNN -> ModalityOutput."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from emolive.core.contracts import FaceBox, ModalityOutput, PersonEstimate, VideoFrame, frozen_array
from emolive.core.newest_thread import NewestOnlyThread
from emolive.face.detector import Detection, HaarFaceDetector
from emolive.face.detectors import DEFAULT_DETECTOR, new_detector
from emolive.face.identity import FaceObservation, PersonRegistry
from emolive.face.mtcnn import MtcnnFaceDetector
from emolive.face.people import scored_order
from emolive.face.predictor import ExpressionPredictor, crop_face
from emolive.face.quality import face_quality
from emolive.face.tracker import IoUTracker, Track, pick_subject
from emolive.models.device import limit_torch_threads

log = logging.getLogger(__name__)

# The FER2013 crop relative to the Haar box, from `emolive eval face --frames` (see the face model card).
CROP_SCALE = 1.0
CROP_SHIFT_Y = 0.0
DETECTION_NICE = 5  # nice levels below the steps for the detection thread (Linux; see core.threads)


@dataclass(frozen=True)
class DetectionJob:
    """One detection round for the detection thread: a grey frame (a copy) and, for a round that re-detects
    around known faces, their boxes (none: scan the whole frame). ``session`` ties it to a ``reset``."""

    grey: np.ndarray = field(repr=False)
    near: tuple[tuple[float, float, float, float], ...]
    session: int
    colour: np.ndarray | None = field(default=None, repr=False)  # for identity embeddings only
    embed: tuple[tuple[int, tuple[float, float, float, float]], ...] = ()  # (track id, box) to embed


class Embedder(Protocol):
    def embed(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray | None]: ...


class FaceChannel:
    """Turns video frames into face-channel outputs and face boxes (subject first, stable track ids).

    The detector scans the whole (downscaled) frame on the first frame and every ``full_scan_every``
    detection rounds; other rounds re-detect only around the live tracks. Detection rounds happen every
    ``detect_every`` frames (settable at run time to degrade under load); in between, tracks coast.
    ``threads`` caps the CNN's (ONNX Runtime's or torch's) and OpenCV's threads (0 leaves them alone);
    ``runtime``, ``device`` and ``int8`` choose how the CNN runs (see ``ExpressionPredictor``); ``detector`` is a
    detector or its name (``emolive.face.detectors.new_detector``: ``mtcnn`` or ``haar``).
    The crop around the detector's box is ``crop_scale`` x its side, centred ``crop_shift_y`` x its side
    below the box centre: measured with `emolive eval face --frames` so the live crop frames a face as the
    FER2013 training crops do (CROP_SCALE, CROP_SHIFT_Y).
    With ``identities`` (a ``PersonRegistry``) and an ``embedder`` each detection round also embeds the tracks
    the registry asks for (on the detection thread when it runs) and maps tracks to persons (``persons``); it then
    scores up to ``max_faces`` faces a step (the primary first, the others largest first; one CNN call) and keeps
    them as ``people``. The primary is the person ``pin`` named while in view, else the subject (``pick_subject``):
    the channel's output is theirs, as without identities. While one face is in view, a face that has a person is
    not embedded again (no one to confuse it with): one embedding per face that appears. Only the primary's crop is
    averaged with its mirror image (when the model does that); the others are scored once (``mirror_others``).
    """

    def __init__(self, model_dir: Path | None = None, detect_every: int = 3, threads: int = 1,
                 full_scan_every: int = 4, detector: HaarFaceDetector | MtcnnFaceDetector | str = DEFAULT_DETECTOR,
                 flip: bool | None = None, crop_scale: float | None = None,
                 crop_shift_y: float | None = None, runtime: str = "onnx", device: str = "cpu",
                 identities: PersonRegistry | None = None, embedder: Embedder | None = None,
                 max_faces: int = 4, int8: bool = True) -> None:
        self.predictor = ExpressionPredictor(model_dir, flip=flip, runtime=runtime, threads=max(1, threads),
                                             device=device, int8=int8)
        if threads > 0:
            cv2.setNumThreads(threads)  # the Haar cascade would otherwise use every core
            if self.predictor.runtime == "torch":
                limit_torch_threads(threads)
        self.detect_every = detect_every
        self.full_scan_every = full_scan_every
        self.detector = new_detector(detector, max(1, threads)) if isinstance(detector, str) else detector
        self.tracker = IoUTracker()
        self._frames = 0
        self._rounds = 0
        self._subject: int | None = None
        self.crop_scale = CROP_SCALE if crop_scale is None else crop_scale
        self.crop_shift_y = CROP_SHIFT_Y if crop_shift_y is None else crop_shift_y
        self.last_subject_box: tuple[float, float, float, float] | None = None
        self._detection_thread: NewestOnlyThread[DetectionJob, list[Detection]] | None = None
        self._session = 0
        self._detection_ms: float | None = None
        self.identities: PersonRegistry | None = None
        self.embedder: Embedder | None = None
        self.max_faces = 1
        self.persons: dict[int, int] = {}  # track id -> person id after the latest detection round
        self._identity_thread: NewestOnlyThread[DetectionJob, dict[int, np.ndarray]] | None = None
        self._vectors: dict[int, np.ndarray] = {}  # embeddings finished since the last detection round applied
        if identities is not None:
            self.use_people(identities, embedder, max_faces)
        self.people: tuple[PersonEstimate, ...] = ()  # the latest step's scored persons (identities only)
        self._pinned: int | None = None  # the person the user made primary
        self._failure: str | None = None  # the embedder failed: identities go off on the step thread
        self.mirror_others = False  # True: every scored face flip-averaged, not only the primary (twice the cost)

    def use_people(self, identities: PersonRegistry, embedder: Embedder | None, max_faces: int) -> None:
        """Tell persons apart from now on (before the detection thread starts): ``identities`` and its
        ``embedder`` (None with identities off), up to ``max_faces`` faces scored a step."""
        if identities.settings.enabled and embedder is None:
            raise ValueError("face identities need an embedder")
        self.identities, self.embedder, self.max_faces = identities, embedder, max(1, int(max_faces))

    def take_people(self, other: FaceChannel) -> None:
        """Go on with ``other``'s persons, names, embedder and pinned person (a model swap mid-session)."""
        if other.identities is not None and self.identities is None:
            self.use_people(other.identities, other.embedder, other.max_faces)
            self._pinned = other._pinned
            self.identities.update(0.0, [])  # this channel's tracks are new: no person keeps a track id of the old

    def close_embedder(self) -> None:
        """End the identity embedder's child process if it runs (it starts again when next needed)."""
        close = getattr(self.embedder, "close", None)
        if callable(close):
            close()

    def start_detection_thread(self) -> None:
        """Live: run the detection rounds on a thread of their own from now on. A round's frame is handed over
        and the tracks coast; its detections correct the tracks on the first frame after they are found."""
        if self._detection_thread is None:
            # a lower priority: on a busy machine the steps go first and the tracks coast a little longer
            self._detection_thread = NewestOnlyThread(self._round, name="emolive-face-detection",
                                                      nice=DETECTION_NICE)
            self._detection_thread.start()
        if self._identity_thread is None and self.identities is not None and self.embedder is not None:
            # embeddings take longer than a detection round: their own thread keeps the rounds' pace
            self._identity_thread = NewestOnlyThread(self._embed, name="emolive-face-identity")
            self._identity_thread.start()

    def stop_detection_thread(self, timeout: float = 2.0) -> None:
        """Finish the round in progress and detect in line again."""
        for name in ("_detection_thread", "_identity_thread"):
            thread = getattr(self, name)
            setattr(self, name, None)
            if thread is not None:
                thread.close(timeout)

    def reset(self) -> None:
        """Forget all tracks (a new source starts)."""
        self._session += 1  # detections still being found for the old source are dropped
        self.tracker.reset()
        self._frames = 0
        self._rounds = 0
        self._subject = None
        self.last_subject_box = None
        self.persons = {}
        self._vectors = {}
        self.people = ()
        self._pinned = None
        if self.identities is not None:
            self.identities.reset()

    def state(self) -> dict:
        """Tracks, frame and detection-round counters and the subject (the models keep no state)."""
        state = {"tracker": self.tracker.state(), "frames": self._frames, "rounds": self._rounds,
                 "subject": self._subject,
                 "last_subject_box": None if self.last_subject_box is None else list(self.last_subject_box)}
        if self.identities is not None:  # persons and their embeddings: only into an analysis' own snapshots
            state["people"] = {"registry": self.identities.state(), "pinned": self._pinned,
                               "persons": [[k, v] for k, v in self.persons.items()]}
        return state

    def restore(self, state: dict) -> None:
        self.tracker.restore(state["tracker"])
        self._frames, self._rounds = int(state["frames"]), int(state["rounds"])
        self._subject = None if state["subject"] is None else int(state["subject"])
        box = state["last_subject_box"]
        self.last_subject_box = None if box is None else tuple(float(v) for v in box)
        people = state.get("people")
        if people is not None and self.identities is not None:
            self.identities.restore(people["registry"])
            self._pinned = None if people["pinned"] is None else int(people["pinned"])
            self.persons = {int(k): int(v) for k, v in people["persons"]}

    def warmup(self) -> None:
        """Run the CNN once so the first real frame is not slow."""
        self.predictor.predict(np.zeros((1, self.predictor.size, self.predictor.size), np.uint8))

    def process(self, frame: VideoFrame, detect: bool | None = None) -> tuple[ModalityOutput, tuple[FaceBox, ...]]:
        """One frame in, the channel's output and the visible faces out.

        ``detect`` forces (True) or skips (False) a detection round; None follows ``detect_every``.
        """
        started = time.perf_counter()
        image = frame.image
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape
        tracks = self._track(grey, detect, image, frame.t)
        subject = self._pinned_track(tracks) or pick_subject(tracks, width, height, self._subject)
        self._subject = subject.track_id if subject is not None else None
        if subject is None:
            self.people = ()
            out = ModalityOutput(modality="face", t=frame.t, present=False, reason="no face",
                                 latency_ms=(time.perf_counter() - started) * 1e3)
            return out, ()
        box = tuple(float(v) for v in subject.box)
        self.last_subject_box = box
        scored = scored_order(subject, tracks, self.max_faces) if self.identities is not None else [subject]
        boxes_of = [tuple(float(v) for v in t.box) for t in scored]
        crops = np.stack([crop_face(grey, b, self.predictor.size, self.crop_scale, self.crop_shift_y)
                          for b in boxes_of])
        probs, emb = self.predictor.predict(crops, None if self.mirror_others else 1)  # one call for every face
        ms = (time.perf_counter() - started) * 1e3
        outs = [ModalityOutput(modality="face", t=frame.t, present=True,
                               emotion=tuple(float(p) for p in probs[i]),
                               quality=face_quality(crops[i], min(b[2], b[3]), t.confidence).total,
                               embedding=frozen_array(np.array(emb[i], dtype=np.float32)),  # crosses threads
                               latency_ms=ms, prior=self.predictor.class_prior)
                for i, (t, b) in enumerate(zip(scored, boxes_of, strict=True))]
        ordered = [subject, *[t for t in tracks if t is not subject]]
        boxes = tuple(self._face_box(t, width, height) for t in ordered)
        self.people = self._people(scored, outs, {b.track_id: b for b in boxes})
        return outs[0], boxes

    def pin(self, person_id: int | None) -> None:
        """Make ``person_id`` the primary person while in view (None: the largest, most central face again)."""
        if person_id is None and self._pinned is not None:
            self._subject = None  # chosen afresh, not kept because the pinned one held the role
        self._pinned = person_id

    def name_person(self, person_id: int, name: str) -> None:
        """The user's name for a person ("" goes back to ``person N``)."""
        if self.identities is not None:
            self.identities.set_name(person_id, name)

    def _pinned_track(self, tracks: list[Track]) -> Track | None:
        if self._pinned is None:
            return None
        return next((t for t in tracks if self.persons.get(t.track_id) == self._pinned), None)

    def _people(self, scored: list[Track], outs: list[ModalityOutput], boxes: dict[int, FaceBox]
                ) -> tuple[PersonEstimate, ...]:
        out = []
        for i, (track, face) in enumerate(zip(scored, outs, strict=True)):
            box = boxes[track.track_id]
            if box.person_id is not None:
                out.append(PersonEstimate(box.person_id, box.person, box, face, primary=i == 0))
        return tuple(out)

    def _track(self, grey: np.ndarray, detect: bool | None, image: np.ndarray, t: float) -> list[Track]:
        detect_now = self._frames % max(1, self.detect_every) == 0 if detect is None else detect
        self._frames += 1
        if self._detection_thread is not None:
            return self._track_in_background(self._detection_thread, grey, detect_now, image, t)
        if not detect_now:
            self.tracker.predict()
            return self.tracker.tracks
        # in line (offline), the faces found this round are embedded at once: a new face has its person at once
        tracks = self.tracker.update(self._detect(self._job(grey, image, copy=False, embed_too=False)))
        colour, embed = self._embed_request(image, copy=False)
        vectors = self._embed(DetectionJob(grey[:0, :0], (), self._session, colour, embed)) if embed else {}
        return self._identify(t, tracks, vectors)

    def _job(self, grey: np.ndarray, image: np.ndarray, copy: bool, embed_too: bool = True) -> DetectionJob:
        """The next detection round: a full scan every ``full_scan_every`` rounds, else around the tracks; the
        colour frame and the tracks to embed when identities are on."""
        full = not self.tracker.tracks or self._rounds % max(1, self.full_scan_every) == 0
        self._rounds += 1
        near = () if full else tuple(tuple(float(v) for v in t.box) for t in self.tracker.tracks)
        colour, embed = self._embed_request(image, copy) if embed_too else (None, ())
        return DetectionJob(grey.copy() if copy else grey, near, self._session, colour, embed)

    def _embed_request(self, image: np.ndarray, copy: bool
                       ) -> tuple[np.ndarray | None, tuple[tuple[int, tuple[float, float, float, float]], ...]]:
        """The colour frame and the (track id, box) pairs the registry wants embedded (none: None, ())."""
        if self.identities is None or self.embedder is None:
            return None, ()
        boxes = [(t.track_id, tuple(float(v) for v in t.box)) for t in self.tracker.tracks]
        wanted = self.identities.wanted(boxes)
        if len(boxes) == 1:  # alone in view: a face that has its person keeps it without a new look
            wanted = {tid for tid in wanted if tid not in self.persons}
        embed = tuple(b for b in boxes if b[0] in wanted)
        return ((image.copy() if copy else image) if embed else None), embed

    def _identify(self, t: float, tracks: list[Track], vectors: dict[int, np.ndarray]) -> list[Track]:
        if self._failure is not None:
            self._identities_off()
        if self.identities is not None:
            self.persons = self.identities.update(t, [FaceObservation(tr.track_id, tuple(float(v) for v in tr.box),
                                                                      vectors.get(tr.track_id)) for tr in tracks])
        return tracks

    def _track_in_background(self, thread: NewestOnlyThread[DetectionJob, tuple[list[Detection], dict]],
                             grey: np.ndarray, detect_now: bool, image: np.ndarray, t: float) -> list[Track]:
        """Apply the newest round the detection thread finished (or coast), and hand this frame over if due."""
        finished = [f for f in thread.collect() if f.item.session == self._session]
        self._collect_embeddings()
        if detect_now:
            job = self._job(grey, image, copy=True, embed_too=self._identity_thread is None)
            thread.submit(job)
            if self._identity_thread is not None:
                colour, embed = self._embed_request(image, copy=True)
                if embed:
                    self._identity_thread.submit(DetectionJob(grey[:0, :0], (), self._session, colour, embed))
        if not finished:
            self.tracker.predict()
            return self.tracker.tracks
        newest = finished[-1]
        self._detection_ms = newest.compute_ms
        if newest.error is not None:
            raise newest.error
        detections, vectors = newest.result or ([], {})
        vectors, self._vectors = {**self._vectors, **vectors}, {}
        return self._identify(t, self.tracker.update(detections), vectors)

    def _collect_embeddings(self) -> None:
        if self._identity_thread is None:
            return
        for done in self._identity_thread.collect():
            if done.error is not None:
                self._failure = str(done.error)
            if done.item.session == self._session and done.result:
                self._vectors.update(done.result)

    def _embed(self, job: DetectionJob) -> dict[int, np.ndarray]:
        """The identity thread's work: the embeddings a round asked for (track id -> vector)."""
        embedder = self.embedder
        if embedder is None or job.colour is None or self._failure is not None:
            return {}
        try:
            vectors = embedder.embed(job.colour, [box for _, box in job.embed])
        except Exception as exc:  # noqa: BLE001 - a missing or broken embedder: tracks only from now on
            self._failure = str(exc) or type(exc).__name__
            return {}
        return {tid: v for (tid, _), v in zip(job.embed, vectors, strict=True) if v is not None}

    def _identities_off(self) -> None:
        """The embedder failed: one log line, then tracks only (persons seen so far keep their tracks)."""
        log.warning("face identities off for this session (tracks only): %s", self._failure)
        self._failure = None
        thread, self._identity_thread, self.embedder = self._identity_thread, None, None
        if thread is not None:
            thread.stop()
        if self.identities is not None:
            self.identities.settings = replace(self.identities.settings, enabled=False)

    def pop_detection_ms(self) -> float | None:
        """The compute time of the detection round applied since the last call (detection thread only)."""
        ms, self._detection_ms = self._detection_ms, None
        return ms

    def _round(self, job: DetectionJob) -> tuple[list[Detection], dict[int, np.ndarray]]:
        """One detection round and the identity embeddings it was asked for (track id -> vector)."""
        detections = self._detect(job)
        return detections, (self._embed(job) if job.embed else {})

    def _detect(self, job: DetectionJob) -> list[Detection]:
        """One detection round (the detection thread's work; the detector keeps no state)."""
        if not job.near:
            return self.detector.detect(job.grey)
        detections: list[Detection] = []
        for box in job.near:
            detections.extend(self.detector.detect_near(job.grey, box)[:1])
        return detections

    def _face_box(self, track: Track, width: int, height: int) -> FaceBox:
        x, y, w, h = track.box
        x0, y0 = int(np.clip(round(x), 0, width - 1)), int(np.clip(round(y), 0, height - 1))
        x1, y1 = int(np.clip(round(x + w), x0 + 1, width)), int(np.clip(round(y + h), y0 + 1, height))
        person = self.persons.get(track.track_id) if self.identities is not None else None
        name = self.identities.name_of(person) if person is not None and self.identities is not None else ""
        return FaceBox(x0, y0, x1 - x0, y1 - y0, track.track_id, float(track.confidence), person, name)
