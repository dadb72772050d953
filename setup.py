"""Build script: the package itself is pure Python; the Cython backend is compiled here when
its sources are present (see fastact/_cython)."""
from setuptools import setup

setup()
