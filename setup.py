"""The one thing pyproject.toml cannot yet say without a warning: the compiled indicator set.

``indicators/_frame.c`` is the compiled twin of the streaming indicator set (the same operations
in the same order, so the same bits). It is optional: without a C compiler the install still
succeeds and the bot runs the Python set, saying so once at start. ``-ffp-contract=off``: a fused
multiply-add rounds once where Python rounds twice, and would move the last bit.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "indicators._frame",
            sources=["indicators/_frame.c"],
            extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
            optional=True,
        )
    ]
)
