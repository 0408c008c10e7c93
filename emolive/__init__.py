"""emolive: real-time multimodal emotion recognition (face, voice, words), fully offline."""

import os as _os

__version__ = "0.1.0"

# ONNX Runtime (1.32) looks up Microsoft's telemetry collector from a thread of its own unless this variable is set
# before onnxruntime is imported (seen under strace: DNS queries during `emolive analyze`). emolive is offline and
# private, so it is off unless the user sets it otherwise. The only thing the package does when imported.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
