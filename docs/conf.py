"""Sphinx configuration of the spikesim documentation (``make docs``)."""

import os
import sys
from pathlib import Path

# document (and run the gallery against) this checkout, not whatever spikesim is installed
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SPIKESIM_NO_PROGRESS", "1")

project = "spikesim"
author = "spikesim developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath"]
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
autodoc_mock_imports = ["brian2cuda"]
exclude_patterns = ["_build", "examples/README.rst", "auto_examples/*.ipynb"]
html_theme = "alabaster"
suppress_warnings = ["myst.header"]

# examples gallery: docs/examples/plot_*.py are run by the build, their figures shown
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
}
