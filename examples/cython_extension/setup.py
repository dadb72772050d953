"""Builds the example against the *installed* fastact (its .pxd files ship with it):

    pip install --no-build-isolation ./examples/cython_extension

``fastact.get_include()`` is the include path that makes ``from fastact.cy cimport ...`` work.
-O3 and -fno-trapping-math let gcc vectorize the loops (the latter turns the activations'
selects into vector blends).  The default target is plain x86-64 (SSE2, 4 floats per vector);
for wider vectors add ISA flags through the environment, which setuptools appends:

    CFLAGS="-mavx2 -mfma" pip install --no-build-isolation ./examples/cython_extension
"""
import fastact
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("fastact_cython_example", ["fastact_cython_example.pyx"],
                   extra_compile_args=["-O3", "-fno-trapping-math"])],
        include_path=[fastact.get_include()],
        compiler_directives={"language_level": 3},
    ),
)
