"""Live outputs for other tools: a Lab Streaming Layer outlet and marker inlet, a local WebSocket, an OBS overlay.

Each output is a pipeline sink that hands data to its own thread through a bounded queue: the inference worker
never waits on a client. ``hub.LiveOutputs`` starts the enabled ones from the ``[outputs]`` settings.
"""
