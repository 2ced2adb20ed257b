"""cgh_lib: the shared library behind the Coherent Gradients book.

Modules are layered top-down: `cli` -> `book`/`figures` -> `experiments` ->
`training` -> `models`/`data`/`aggregation`/`pergrad`/`stats` -> `config`/`runstore`.
Notebooks only call into this package; all logic lives here.
"""

__version__ = "0.1.0"
