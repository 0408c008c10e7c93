"""Session recording: estimates to a versioned CSV, a metadata sidecar, optional raw capture, listing."""

from emolive.recording.files import RecordingError
from emolive.recording.listing import SessionInfo, list_sessions
from emolive.recording.schema import SCHEMA_VERSION, header, marker_row, read_csv, row
from emolive.recording.session import SessionRecorder, default_sessions_root

__all__ = ["SCHEMA_VERSION", "RecordingError", "SessionInfo", "SessionRecorder", "default_sessions_root", "header",
           "list_sessions", "marker_row", "read_csv", "row"]
