"""Tasks: every searchable role (voice encoder training, judge training, generator families) with one surface (``tasks.base.Task``)."""
