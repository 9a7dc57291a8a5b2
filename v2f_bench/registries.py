"""The lookup and registration rules every role's registry shares (generator families, judges,
voice encoders): each registry is a plain ``dict`` of name -> class, and these two functions are
the one place its rules live.
"""

from __future__ import annotations


def lookup(registry: dict[str, type], name: str, kind: str) -> type:
    """The class registered as ``name``; ``ValueError`` names the ``kind`` and lists the known names otherwise."""
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}") from None


def register(registry: dict[str, type], cls: type, base: type, kind: str) -> type:
    """Add ``cls`` (a ``base`` subclass with a ``name``) to ``registry`` under ``cls.name``.

    Re-registering the same class is a no-op; taking a name already held by another class is a
    ``ValueError``, so a typo cannot silently replace a built-in one.
    """
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"{cls!r} is not a {base.__name__} subclass")
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no `name`; set the class attribute `name = '...'`")
    if registry.get(cls.name, cls) is not cls:
        raise ValueError(f"{kind} name {cls.name!r} is already registered to {registry[cls.name].__name__}")
    registry[cls.name] = cls
    return cls
