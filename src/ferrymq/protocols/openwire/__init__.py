from . import codec, fastpath  # noqa: F401 - fastpath registers its readers and writers with the codec
