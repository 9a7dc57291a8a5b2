"""Face judges: one module per judge, one interface (``base.Judge``), one registry (``registry.JUDGES``)."""
