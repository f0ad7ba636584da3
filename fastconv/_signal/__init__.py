"""The engines behind the numpy/scipy drop-ins in ``fastconv.signal``.

- ``policy``: the free choices of one call (engine, threads, thresholds), passed
  explicitly from the public functions down to the engines.
- ``cost``: the cost model that makes those choices, as scipy's
  ``choose_conv_method`` does, with constants measured by
  ``python -m fastconv.bench --calibrate``.
- ``fft``: the overlap-save and circular FFT engines.
- ``border``: SciPy's boundary extension (fill, wrap, symmetric), materialised
  whole, in bands, or in border strips.
- ``engines``: the 1-D and 2-D correlation engines built on conv2d and the FFT.
"""
