"""One package per paper; each registers its experiments and figures on import.

`cgh_lib.book.registry.discover` imports every package here, so this file lists none.
"""
