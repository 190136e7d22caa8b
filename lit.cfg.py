"""lit configuration: FileCheck tests for every dialect and pass live in tests/lit."""
import os

import lit.formats

config.name = "lockstep"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
# lit matches excludes against directory names at every level: keep them to test-only names
config.excludes = ["Inputs", "Output"]
config.environment["PYTHONHASHSEED"] = "0"
for var in ("PATH", "HOME", "VIRTUAL_ENV"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.substitutions.append(("%examples", os.path.join(config.test_source_root, "examples")))
