"""Voice encoders: one interface (``base.VoiceEncoder``), one module each, one registry (``registry.VOICE_ENCODERS``)."""
