"""Hall screen, LED window boards and voice announcements."""
