"""The one thing pyproject.toml cannot yet say without a warning: the compiled indicator code.

``indicators/_frame.c`` is the compiled twin of the streaming indicator set, ``indicators/_kernels.c``
of the batch kernels' loops (the same operations in the same order, so the same bits). Both are
optional: without a C compiler the install still succeeds and the Python forms run, the bot saying
so once at start. ``-ffp-contract=off``: a fused multiply-add rounds once where Python rounds twice,
and would move the last bit.
"""

from setuptools import Extension, setup

FLAGS = ["-O2", "-ffp-contract=off", "-fno-fast-math"]

setup(
    ext_modules=[
        Extension(f"indicators.{name}", sources=[f"indicators/{name}.c"], depends=["indicators/_rolling_sum.h"],
                  extra_compile_args=FLAGS, optional=True)
        for name in ("_frame", "_kernels")
    ]
)
