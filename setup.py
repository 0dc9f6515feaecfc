"""Build script: cythonizes the oor_core extension modules.

``pip install -e ".[test]"`` runs this; no manual build step is needed.
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("OOR_DEBUG_BUILD") == "1"

extensions = [
    Extension(
        "oor_core." + os.path.splitext(os.path.basename(pyx))[0],
        [pyx],
        extra_compile_args=["-O0", "-g"] if DEBUG else ["-O3"],
    )
    for pyx in sorted(glob.glob(os.path.join("oor_core", "*.pyx")))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": True,   # hot paths use raw pointers; Python-level code keeps negative indexing safe
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
        annotate=os.environ.get("OOR_ANNOTATE") == "1",
    ),
)
