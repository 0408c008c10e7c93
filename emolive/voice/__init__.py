"""Voice channel: seed-spec log-mel features, a log-mel CNN and Whisper-embedding heads, and the live wrapper.

Modules: features (log-mel, windows), data (RAVDESS/folder clips, labels, arousal targets), model (VoiceNet),
whisper_embed (Whisper tiny.en embedding + linear heads), channel (VoiceChannel).
"""
