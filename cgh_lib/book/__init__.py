"""Book layer: the figure registry, papermill execution, the Jupyter Book build and shared plotting.

Submodules are imported where used (`cgh_lib.book.registry`, `.build`, `.plotting`, `.claims`),
so importing the package costs nothing and pulls in no paper.
"""
