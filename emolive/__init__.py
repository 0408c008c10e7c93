"""emolive: real-time multimodal emotion recognition (face, voice, words), fully offline."""

__version__ = "0.1.0"
