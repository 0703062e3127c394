"""Imported last by the fork server: freezes what is loaded so that forked runs share it.

``gc.freeze()`` moves every object alive now out of the garbage collector's reach, so a forked
child's first collections do not touch (and copy) the server's pages.
"""

import gc

gc.collect()
gc.freeze()
