"""Write a notebook from (kind, source) cells, without outputs: kind is "md", "code" or "params" (the papermill parameters cell).

Usage from a script: `from tools.nbwrite import write; write(path, [("md", "..."), ("params", "..."), ...])`.
"""
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def write(path, cells):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        if kind == "md":
            nb.cells.append(new_markdown_cell(src.strip()))
        else:
            c = new_code_cell(src.strip())
            if kind == "params":
                c.metadata["tags"] = ["parameters"]
            nb.cells.append(c)
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i}"
    nbformat.write(nb, path)
