"""Face channel: detection, tracking, crop quality and the expression CNN."""
