"""Networks: the voice classifier that makes voice embeddings, and the voice-to-face generator families.

Nothing here knows of Ray or of files on disk: modules take tensors and a config dict and
return tensors and plain floats. ``registry.FAMILIES`` lists the generator families by name.
"""
