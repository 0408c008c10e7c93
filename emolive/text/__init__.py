"""The text channel: emotion and sentiment of what is said (sentence encoder + small heads)."""
