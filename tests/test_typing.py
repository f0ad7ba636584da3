"""fastconv ships its type information (PEP 561): py.typed, and a stub beside each
compiled module. mypy itself runs in .ci/typecheck; this is the fast packaging check."""
import importlib.machinery
import importlib.metadata
import importlib.resources
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import fastconv

PACKAGE_DIR = Path(fastconv.__file__).parent


def compiled_modules():
    """Names of the extension modules beside the imported fastconv (e.g. "_config")."""
    names = []
    for info in pkgutil.iter_modules([str(PACKAGE_DIR)]):
        spec = importlib.util.find_spec(f"fastconv.{info.name}")
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            names.append(info.name)
    return sorted(names)


def test_py_typed_marker_ships():
    assert importlib.resources.files("fastconv").joinpath("py.typed").is_file()


def test_each_compiled_module_has_a_stub_beside_it():
    modules = compiled_modules()
    # The kernels every build has; the SIMD variants exist only on some builds.
    assert {"_config", "_direct", "_grad", "_im2col", "_pool", "_probe",
            "_separable"} <= set(modules), modules
    missing = [name for name in modules if not (PACKAGE_DIR / f"{name}.pyi").is_file()]
    assert not missing, f"compiled modules without a .pyi stub in {PACKAGE_DIR}: {missing}"


def test_installed_distribution_lists_the_type_information():
    """The wheel's file list (RECORD), whichever fastconv folder this process imported."""
    try:
        files = importlib.metadata.files("fastconv")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastconv is not installed as a distribution")
    listed = {f.as_posix() for f in files or ()}
    if "fastconv/__init__.py" not in listed:
        pytest.skip("editable install: its RECORD lists no package files")
    assert "fastconv/py.typed" in listed
    modules = compiled_modules()
    missing = [name for name in modules if f"fastconv/{name}.pyi" not in listed]
    assert not missing, f"stubs not installed: {missing}"
