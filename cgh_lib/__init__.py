"""cgh_lib: the shared library behind the Coherent Gradients book.

Layers, lowest first (each imports only those before it): `errors`; `data`,
`models`, `store`; `grads`; `train`; `book`; `papers/<paper>`; `cli`.
Notebooks only call into this package; all logic lives here.
"""

__version__ = "0.1.0"
