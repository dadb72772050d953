"""Benchmarks of fastact against its NumPy baseline, PyTorch and the memory floor.

* `implementations`: the COMPARISONS map (function -> implementation -> callable), built from the
  spec; shared by the report and the pytest-benchmark suite in ``benchmarks/``.
* `timing`: the calibrated, interleaved median timer.
* `runner`: runs the matrix (ops x directions x sizes x dtypes x thread counts) with a progress bar.
* `report`: tables, JSON and markdown (the JSON schema is documented there).
* `plots`: PNG plots (needs matplotlib: ``pip install "fastact[bench]"``).
* `cli`: ``python -m fastact bench`` / ``fastact-bench``.
"""
