"""Sound-direction models (task ``direction``), one file each; :mod:`.base` holds the shared network,
losses and the :class:`~simkit.models.direction.base.DirectionModel` base class.

===============  ===============================================================================  ======
model            method                                                                           trains
===============  ===============================================================================  ======
``iid``          interaural intensity difference, louder ear = side (:mod:`.iid`)                 no
``gcc_phat``     GCC-PHAT ITD + Woodworth spherical head (:mod:`.gcc_phat`)                       no
``supervised``   ResNet-18 on the true azimuth, 16 classes (:mod:`.supervised`)                   yes
``slfm``         SLfM as its authors train it: pretext, then heads on frozen nets (:mod:`.slfm`)  yes
``slfm_simple``  simkit's one-network simplification of SLfM (:mod:`.slfm_simple`)                yes
``ours_full``    seed 000 rotation + translation + IID (:mod:`.ours`)                             yes
``ours_rt``      seed 000 rotation + translation, no IID (:mod:`.ours`)                           yes
===============  ===============================================================================  ======

The modules register themselves when :data:`simkit.models.MODELS` is first read (a new model is a new file).
"""
