"""Data sets the course's training exercises use; nothing is downloaded.

`load_digits()` gives scikit-learn's bundled 8x8 handwritten digits when scikit-learn
is installed (the `data` extra), else a generated stand-in with the same shapes;
`load_names()` gives the US census first names of the `names` package, else names
generated from syllables; `load_pydoc_text()` gives the documentation prose that every
Python ships in `pydoc_data.topics`, and `split_text` cuts it into training and held-out
text; `load_iris()`, `load_wine()`, `load_breast_cancer()` and `load_diabetes()` give
scikit-learn's small tables (or generated stand-ins of the same shape) and
`standardize_split` splits and standardises them without leaking the test rows.
Tests and exercises run either way. `line_chart` draws learning curves and
`scatter_chart` points coloured by class, and `image_grid` grey-scale images side by side,
as self-contained SVG files (no plotting library needed).
"""

from coursedata.digits import Digits, load_digits, train_test_split
from coursedata.names import load_names
from coursedata.svg import image_grid, line_chart, scatter_chart
from coursedata.tabular import (
    Table,
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_wine,
    standardize_split,
)
from coursedata.text import load_pydoc_text, split_text

__all__ = [
    "Digits",
    "Table",
    "image_grid",
    "line_chart",
    "load_breast_cancer",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_names",
    "load_pydoc_text",
    "load_wine",
    "scatter_chart",
    "split_text",
    "standardize_split",
    "train_test_split",
]
