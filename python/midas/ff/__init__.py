"""Far-field HEDM: from frames to grains (the ff_MIDAS workflow).

Back half (spots → grains): :mod:`midas.ff.index`, :mod:`midas.ff.refine`,
:mod:`midas.ff.grains`, :mod:`midas.ff.strain`, :mod:`midas.ff.pipeline`.
"""
