"""Build script.  fastact is pure Python plus an optional compiled backend, fastact/_cython, built
here (pip install . / pip install -e .) in one extension module per ISA variant
(fastact/_cython/_variants.py: baseline x86-64, AVX2+FMA, AVX-512), of which the running CPU's
best is imported at run time.

Steps (all in `BuildExt.run`):

1. expand the Tempita templates (fastact/_cython/_generate.py): mathfn.pxd with the coefficients
   of fastact/_coefficients.py, and _kernels_<variant>.pyx with the loops of every kernel family
   of fastact/spec.py;
2. cythonize them;
3. probe the compiler: OpenMP (-fopenmp; without it the kernels build serial) and each variant's
   ISA flags (a compiler or assembler without AVX-512 skips that variant);
4. compile every variant with -O3 -fno-trapping-math (+ -fopenmp) + its flags; never
   -march=native, so that the result runs on any x86-64 machine.

Nothing here fails the install: without Cython, a compiler or OpenMP, the package installs with
less (serial kernels, fewer variants, or no Cython backend, in which case fastact uses Numba), and
the build writes what happened to fastact/_cython/_build_info.py, which ``fastact.show_config()``
reports.

Environment knobs: FASTACT_BUILD_VARIANTS=baseline,avx2 (build only these),
FASTACT_NO_OPENMP=1 (serial kernels), FASTACT_NO_CYTHON=1 (skip the compiled backend).
"""
from __future__ import annotations

import os
import platform
import runpy
import sys
import tempfile
import traceback

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
CYTHON_DIR = os.path.join("fastact", "_cython")
VARIANTS = runpy.run_path(os.path.join(HERE, CYTHON_DIR, "_variants.py"))["VARIANTS"]
#: extension module name -> its variant
VARIANT_OF = {f"fastact._cython._kernels_{v.name}": v for v in VARIANTS}

COMPILE_ARGS = [
    "-O3",
    # Lets gcc if-convert selects like `x > 0 ? x : a * x` (speculating the multiply), without
    # which such loops do not vectorize; it changes no result (we never read the FP flags).
    "-fno-trapping-math",
    "-g0",                          # Python's CFLAGS carry -g: slower builds, 10x larger .so
    "-Wno-unused-function",         # the fused-type .pxd functions not every module uses
]
OPENMP_FLAG = "-fopenmp"
DEFINE_MACROS = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+: n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""
ISA_PROBE = r"""
#include <immintrin.h>
#if defined(__AVX512F__)
__m512 probe(__m512 a, __m512 b) { return _mm512_fmadd_ps(a, b, a); }
#elif defined(__AVX2__)
__m256 probe(__m256 a, __m256 b) { return _mm256_fmadd_ps(a, b, a); }
#else
int probe(int a) { return a; }
#endif
"""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _wanted_variants():
    names = [v.name for v in VARIANTS if X86 or not v.x86_only]
    only = os.environ.get("FASTACT_BUILD_VARIANTS", "").strip()
    if only:
        chosen = [n.strip() for n in only.split(",") if n.strip()]
        names = [n for n in names if n in chosen]
    return [v for v in VARIANTS if v.name in names]


def _extension(variant) -> Extension:
    return Extension(
        f"fastact._cython._kernels_{variant.name}",
        [os.path.join(CYTHON_DIR, f"_kernels_{variant.name}.pyx")],
        extra_compile_args=COMPILE_ARGS + list(variant.flags),
        extra_link_args=[],
        define_macros=list(DEFINE_MACROS),
    )


def _generate_sources(variants) -> None:
    generator = runpy.run_path(os.path.join(HERE, CYTHON_DIR, "_generate.py"))
    generator["generate"](variants=[v.name for v in variants])
    runpy.run_path(os.path.join(HERE, CYTHON_DIR, "_generate_api.py"))["generate"]()   # fastact/cy.pxd


def _pxd_newer_than_c(extensions) -> bool:
    """Whether a .pxd changed since the C was generated (cythonize misses changes to the .pxd
    files the .pyx cimports by absolute name)."""
    pxds = [os.path.join(CYTHON_DIR, f) for f in os.listdir(CYTHON_DIR) if f.endswith(".pxd")]
    newest = max((os.path.getmtime(p) for p in pxds), default=0.0)
    for ext in extensions:
        c_file = ext.sources[0][:-len(".pyx")] + ".c"
        if not os.path.exists(c_file) or os.path.getmtime(c_file) < newest:
            return True
    return False


def _say(message: str) -> None:
    print(f"fastact build: {message}", file=sys.stderr, flush=True)


class BuildPy(build_py):
    """Generate the .pxd files first, so that package_data ships mathfn.pxd."""

    def run(self):
        if not _env_flag("FASTACT_NO_CYTHON"):
            try:
                _generate_sources(_wanted_variants())
            except Exception as exc:        # reported again (and recorded) by build_ext
                _say(f"could not generate the Cython sources: {exc}")
        super().run()


class BuildExt(build_ext):
    """Builds what it can of the Cython backend; never fails the install."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:           # the variants compile concurrently
            self.parallel = os.cpu_count() or 1

    def run(self):
        self.info = {"error": None, "openmp": False, "openmp_reason": None, "variants": {},
                     "cython": None, "compile_args": COMPILE_ARGS, "compiler": None}
        self._variant_of = {}
        try:
            self._prepare()
        except Exception as exc:
            self.info["error"] = f"{type(exc).__name__}: {exc}"
            _say(f"WARNING: the Cython backend is not built ({self.info['error']}); fastact "
                 "will use its Numba backend")
            self.extensions = []
        try:
            if self.extensions:
                super().run()
        except Exception as exc:            # e.g. no compiler at all: install without the backend
            self.info["error"] = f"{type(exc).__name__}: {exc}"
            _say(f"WARNING: building the Cython backend failed ({self.info['error']}); fastact "
                 "will use its Numba backend")
        self._remove_stale_modules()
        self._write_build_info()

    def _remove_stale_modules(self):
        """Delete the variant modules this build did not produce, from build/ (which setuptools
        never cleans, so a wheel would ship an old one) and, in place, from the source tree: an
        old binary would not match the new sources, and its absence is what the record explains."""
        for name, variant in VARIANT_OF.items():
            if self.info["variants"].get(variant.name) == "built":
                continue
            relative = self.get_ext_filename(name)
            places = [os.path.join(self.build_lib, relative)]
            if self.inplace or getattr(self, "editable_mode", False):
                places.append(os.path.join(HERE, relative))
            for path in places:
                if os.path.exists(path):
                    os.remove(path)
                    _say(f"removed the stale {path}")

    def _prepare(self):
        if _env_flag("FASTACT_NO_CYTHON"):
            raise RuntimeError("FASTACT_NO_CYTHON is set")
        wanted = _wanted_variants()
        extensions = [ext for ext in self.extensions if VARIANT_OF.get(ext.name) in wanted]
        self.extensions = extensions
        if not extensions:
            raise RuntimeError("no variant to build (FASTACT_BUILD_VARIANTS="
                               f"{os.environ.get('FASTACT_BUILD_VARIANTS')!r})")
        self._variant_of = {ext.name: VARIANT_OF[ext.name] for ext in extensions}
        import Cython
        import numpy
        from Cython.Build import cythonize
        self.info["cython"] = Cython.__version__
        _generate_sources(wanted)
        for ext in extensions:
            ext.sources = [os.path.join(CYTHON_DIR, f"_kernels_{VARIANT_OF[ext.name].name}.pyx")]
            if numpy.get_include() not in ext.include_dirs:
                ext.include_dirs.append(numpy.get_include())
        # cythonize() returns new Extension objects; keep setuptools' own (it has annotated them
        # in finalize_options) and take only the generated C sources.
        translated = cythonize(extensions, quiet=True, nthreads=min(len(extensions), os.cpu_count() or 1),
                               compiler_directives={"language_level": 3},
                               force=self.force or _pxd_newer_than_c(extensions))
        for ext, done in zip(extensions, translated):
            ext.sources = list(done.sources)

    def build_extensions(self):
        # The compiler exists from here on: probe it before compiling anything.
        self.info["compiler"] = " ".join(getattr(self.compiler, "compiler_so", None) or [self.compiler.compiler_type])
        unix = self.compiler.compiler_type == "unix"
        if _env_flag("FASTACT_NO_OPENMP"):
            self.info["openmp_reason"] = "FASTACT_NO_OPENMP was set at build time"
        elif not unix:
            self.info["openmp_reason"] = f"no OpenMP flags known for the {self.compiler.compiler_type} compiler"
        else:
            problem = self._probe(OPENMP_PROBE, [OPENMP_FLAG], link=True)
            if problem:
                self.info["openmp_reason"] = f"the compiler cannot build OpenMP code: {problem}"
            else:
                self.info["openmp"] = True
        if not self.info["openmp"]:
            _say(f"WARNING: building serial kernels: {self.info['openmp_reason']}")
        kept = []
        for ext in self.extensions:
            variant = self._variant_of[ext.name]
            if variant.flags and not unix:
                self.info["variants"][variant.name] = f"skipped: no ISA flags for the {self.compiler.compiler_type} compiler"
                continue
            if variant.flags:
                problem = self._probe(ISA_PROBE, list(variant.flags))
                if problem:
                    self.info["variants"][variant.name] = f"skipped, the compiler cannot target it: {problem}"
                    _say(f"WARNING: {variant.name} variant skipped: {problem}")
                    continue
            if self.info["openmp"]:
                ext.extra_compile_args.append(OPENMP_FLAG)
                ext.extra_link_args.append(OPENMP_FLAG)
            kept.append(ext)
        self.extensions = kept
        super().build_extensions()

    def build_extension(self, ext):
        variant = self._variant_of[ext.name]
        try:
            super().build_extension(ext)
        except Exception as exc:
            compiler = (getattr(self.compiler, "compiler_so", None) or ["the compiler"])[0]
            reason = (f"{type(exc).__name__} from {compiler} on {ext.sources[0]} "
                      "(pip install -v shows its output)")
            self.info["variants"][variant.name] = f"failed: {reason}"
            _say(f"WARNING: the {variant.name} variant failed to compile: {exc}; continuing without it")
            return
        self.info["variants"][variant.name] = "built"

    def _probe(self, code: str, flags, link: bool = False):
        """None when `code` compiles (and links) with `flags`, else a short reason."""
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "probe.c")
            with open(source, "w") as f:
                f.write(code)
            try:
                objects = self.compiler.compile([source], output_dir=tmp, extra_postargs=list(flags))
                if link:
                    self.compiler.link_executable(objects, os.path.join(tmp, "probe"),
                                                  extra_postargs=list(flags))
            except Exception as exc:            # CompileError, LinkError, a missing compiler...
                return (f"a test program with {' '.join(flags)} does not "
                        f"{'compile and link' if link else 'compile'} ({type(exc).__name__})")
        return None

    def _write_build_info(self):
        text = ('"""What the last build of the Cython backend did (generated by setup.py at build '
                'time; do not edit)."""\n'
                f"BUILD = {self.info!r}\n")
        targets = [os.path.join(self.build_lib, CYTHON_DIR, "_build_info.py")]
        if self.inplace or getattr(self, "editable_mode", False):
            targets.append(os.path.join(HERE, CYTHON_DIR, "_build_info.py"))
        for path in targets:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
            except OSError:
                traceback.print_exc()


setup(
    ext_modules=[_extension(v) for v in VARIANTS],
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy},
    # the .pxd API (and the templates, so an sdist can rebuild); not the generated .pyx/.c, which
    # setuptools would otherwise ship as the extensions' sources
    package_data={"fastact._cython": ["*.pxd", "*.tp"], "fastact": ["cy.pxd", "cy.pxd.tp"]},
    exclude_package_data={"fastact._cython": ["_kernels_*.pyx", "_kernels_*.c"]},
)
