"""Build the compiled kernels in src/fastconv/ into the fastconv package.

Environment switches:
  FASTCONV_DEBUG=1   Cython boundscheck/wraparound/initializedcheck on, -O0 -g:
                     an out-of-bounds index becomes an IndexError, not a silent read.
  FASTCONV_SANITIZE=address  also compile and link with AddressSanitizer, so the
                     raw-pointer inner loops (which Cython's boundscheck cannot see)
                     fault on any out-of-bounds access. Run Python with
                     LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0.
  FASTCONV_NO_OPENMP=1  build without OpenMP even when the compiler has it.
  FASTCONV_NO_SIMD_VARIANTS=1  build only the baseline kernels (no AVX2/AVX-512 copies).
"""
import glob
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE_ROOT = os.path.dirname(os.path.abspath(__file__))
DEBUG = os.environ.get("FASTCONV_DEBUG", "0") not in ("", "0")
NO_OPENMP = os.environ.get("FASTCONV_NO_OPENMP", "0") not in ("", "0")
SANITIZE = os.environ.get("FASTCONV_SANITIZE", "").strip()

KERNEL_MODULES = ["_config", "_direct", "_grad", "_im2col", "_pool", "_probe", "_separable"]

# The loop-nest kernels are compiled once more per SIMD level and the best one the
# CPU supports is picked at import (fastconv/_dispatch.py). The baseline build
# uses the compiler's default target, so every module runs on every x86-64 CPU.
SIMD_MODULES = ["_direct", "_grad", "_pool", "_probe", "_separable"]
SIMD_LEVELS = {
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mavx2", "-mfma",
               "-mprefer-vector-width=512"],
}
BUILD_SIMD_VARIANTS = (
    not DEBUG
    and platform.machine().lower() in ("x86_64", "amd64")
    and os.environ.get("FASTCONV_NO_SIMD_VARIANTS", "0") in ("", "0")
)

# Set once for every module: no per-file directive headers that drift apart.
COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _compiler_has_openmp(compiler):
    """Compile and link a tiny OpenMP program with the compiler setuptools will use."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            objects = compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(
                objects, "probe", output_dir=tmp, extra_postargs=["-fopenmp"]
            )
        except Exception:  # CompileError, LinkError, or a missing tool
            return False
    return True


def _simd_level(ext_name):
    """'avx2' for fastconv._direct_avx2 and the like; None for baseline modules."""
    suffix = ext_name.rsplit("_", 1)[-1]
    return suffix if suffix in SIMD_LEVELS else None


def _compiler_accepts(compiler, flags):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "flags.c")
        with open(src, "w") as f:
            f.write("int main(void) { return 0; }\n")
        try:
            compiler.compile([src], output_dir=tmp, extra_postargs=flags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        # Drop SIMD variants the compiler cannot build; the dispatcher then skips them.
        if self.compiler.compiler_type != "msvc":
            usable = {level: _compiler_accepts(self.compiler, flags)
                      for level, flags in SIMD_LEVELS.items()}
        else:
            usable = dict.fromkeys(SIMD_LEVELS, False)
        self.extensions = [ext for ext in self.extensions
                           if usable.get(_simd_level(ext.name), True)]
        use_openmp = False
        if self.compiler.compiler_type == "msvc":
            flags = ["/O2"] if not DEBUG else ["/Od", "/Zi"]
            omp_compile, omp_link = ["/openmp"], []
            use_openmp = not NO_OPENMP
        else:
            flags = ["-O3"] if not DEBUG else ["-O0", "-g"]
            omp_compile, omp_link = ["-fopenmp"], ["-fopenmp"]
            use_openmp = not NO_OPENMP and _compiler_has_openmp(self.compiler)
            if not use_openmp and not NO_OPENMP:
                warnings.warn(
                    "fastconv: the C compiler has no OpenMP; building serial kernels "
                    "(fastconv.show_config() will say 'OpenMP: no')."
                )
        sanitize = [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer"] if SANITIZE else []
        for ext in self.extensions:
            simd = SIMD_LEVELS.get(_simd_level(ext.name), [])
            ext.extra_compile_args = flags + simd + sanitize + (omp_compile if use_openmp else [])
            ext.extra_link_args = sanitize + (omp_link if use_openmp else [])
            ext.define_macros = list(ext.define_macros or []) + [
                ("FASTCONV_DEBUG_BUILD", "1" if DEBUG else "0"),
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ]
        super().build_extensions()
        self._copy_into_source_tree()

    def _copy_into_source_tree(self):
        """Place the built kernels beside the sources, as ``build_ext --inplace`` would.

        From the clone's root, ``python -m fastconv.bench`` imports ``./fastconv`` (the
        current folder comes first on sys.path), not the installed package; with the
        kernels copied here, that folder is a working package too. Kernel modules of an
        earlier build that this one did not make (a release build's SIMD variants after
        a debug build) are removed, so the folder never mixes two builds.
        """
        package_dir = os.path.join(SOURCE_ROOT, "fastconv")
        if self.inplace or not os.access(package_dir, os.W_OK):
            return
        built = set()
        for ext in self.extensions:
            source = self.get_ext_fullpath(ext.name)
            target = os.path.join(package_dir, os.path.basename(source))
            built.add(os.path.basename(source))
            if os.path.abspath(source) != os.path.abspath(target):
                shutil.copyfile(source, target)
        ext_suffix = os.path.splitext(self.get_ext_filename("fastconv._config"))[1]
        for name in KERNEL_MODULES + [f"{m}_{level}" for m in SIMD_MODULES for level in SIMD_LEVELS]:
            for stale in glob.glob(os.path.join(package_dir, f"{name}.*{ext_suffix}")):
                if os.path.basename(stale) not in built:
                    os.remove(stale)


def _simd_variant_sources():
    """Write one-line stubs that compile src/fastconv/NAME.pyx again as NAME_LEVEL."""
    stub_dir = os.path.join("build", "simd-stubs", "fastconv")
    os.makedirs(stub_dir, exist_ok=True)
    variants = []
    for name in SIMD_MODULES:
        for level in SIMD_LEVELS:
            path = os.path.join(stub_dir, f"{name}_{level}.pyx")
            text = f'# Generated by setup.py: {name} built for {level}.\ninclude "fastconv/{name}.pyx"\n'
            if not os.path.exists(path) or open(path).read() != text:
                with open(path, "w") as f:
                    f.write(text)
            variants.append((f"{name}_{level}", path))
    return variants


def extensions():
    from Cython.Build import cythonize

    # The C headers every kernel includes (micro-kernels, config): a change to one rebuilds
    # the modules, as a change to their .pyx does.
    headers = sorted(glob.glob("src/fastconv/*.h"))
    modules = [
        Extension(f"fastconv.{name}", [f"src/fastconv/{name}.pyx"], include_dirs=["src/fastconv"],
                  depends=headers)
        for name in KERNEL_MODULES
    ]
    if BUILD_SIMD_VARIANTS:
        for name, path in _simd_variant_sources():
            modules.append(Extension(f"fastconv.{name}", [path], include_dirs=["src/fastconv"],
                                     depends=headers))
    return cythonize(
        modules,
        include_path=["src"],
        compiler_directives=COMPILER_DIRECTIVES,
        # The debug and release builds must not share generated C files.
        build_dir=os.path.join("build", "cython-debug" if DEBUG else "cython"),
    )


# pip builds in the source tree, and build_py never deletes: a module removed from the
# sources (or turned into a package) would be installed again from an old build/.../lib.
BUILD_BASE = os.path.join("build", "debug" if DEBUG else "release")
shutil.rmtree(os.path.join(SOURCE_ROOT, BUILD_BASE, "lib"), ignore_errors=True)

setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
    # pip builds in the source tree: a debug build must not pick up the release
    # build's compiled modules (its SIMD variants above all) from build/lib.
    options={"build": {"build_base": BUILD_BASE}},
)
