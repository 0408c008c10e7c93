"""Model files: where the bundled models live, safetensors and config reading, ONNX Runtime sessions, devices."""
