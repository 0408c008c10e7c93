"""Live transcription: Whisper (CTranslate2) behind VAD, a streaming commit policy and a worker thread.

``models`` finds and loads a model; ``decoder`` turns audio into gated word hypotheses; ``vadstream`` gives
Silero speech probabilities for a live stream; ``endpoint`` finds utterance boundaries from them; ``commit``
decides which words are final (LocalAgreement-2); ``streaming`` ties these together without threads;
``transcriber`` runs that core in its own thread; ``replay`` feeds a recording through it on a simulated
clock (evaluation, tests); ``wer`` scores transcripts.
"""
