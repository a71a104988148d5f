"""Sphinx configuration of the spikesim documentation (``make docs``)."""

project = "spikesim"
author = "spikesim developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath"]
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
autodoc_mock_imports = ["brian2cuda"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["myst.header"]
