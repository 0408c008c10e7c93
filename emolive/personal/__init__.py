"""Personal models: fine-tuning runs started from the app, personal calibration, and the trainer protocol."""
