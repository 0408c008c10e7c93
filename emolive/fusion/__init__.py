"""Fusion of the face, voice and text channels into one estimate."""
