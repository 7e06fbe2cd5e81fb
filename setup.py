"""What setup.cfg cannot declare: the cffi build step generating nvlist_ffi's libnv ABI module.

See nvlist_ffi/_libnv_build.py: it writes a pure-Python module (no compiler needed) so that
binding libnv does not parse C declarations in every process.
"""

from setuptools import setup

setup(cffi_modules=["nvlist_ffi/_libnv_build.py:ffibuilder"])
