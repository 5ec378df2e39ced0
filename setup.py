"""Builds the one native extension, vsearch._core, from csrc/.

No -march=native: each SIMD level's kernels are compiled for their ISA inside
their own translation unit (target pragmas) and chosen at run time, so one
build runs on any CPU of the architecture.
"""
import os
from glob import glob

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

# VSEARCH_SANITIZE=1 builds with AddressSanitizer and UBSan (for the hostile
# input tests); VSEARCH_DEBUG=1 builds without optimisation.
SANITIZE = os.environ.get("VSEARCH_SANITIZE") == "1"
DEBUG = os.environ.get("VSEARCH_DEBUG") == "1"

compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]
link_args = []
if SANITIZE:
    compile_args = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    link_args = ["-fsanitize=address,undefined"]

sources = sorted(glob("csrc/**/*.cpp", recursive=True))
# Every source is rebuilt when a header changes (setuptools tracks no includes).
headers = sorted(glob("csrc/**/*.h", recursive=True))

setup(
    ext_modules=[
        Pybind11Extension(
            "vsearch._core",
            sources,
            depends=headers,
            cxx_std=17,
            extra_compile_args=compile_args + ["-Wall", "-Wextra"],
            extra_link_args=link_args + ["-pthread"],
        )
    ],
    cmdclass={"build_ext": build_ext},
)
