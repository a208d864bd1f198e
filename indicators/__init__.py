"""A Pine v6 emulation that reproduces TradingView bit for bit (spec: ../shared/pine.md).

Each indicator has a streaming form (``update`` per closed bar, O(1)) and a batch form
(numpy in, numpy out) with identical bits. ``frame.FrameIndicators`` is what the symbol
actor drives (compiled from ``_frame.c`` when the install could, the same bits as the Python
``frame.PythonFrameIndicators``); ``columns.compute_columns`` is the whole set in batch for
tools and backtests.
"""
