"""Binaural-generation models (task ``binauralize``) and their localisation branches (task ``av_localize``),
one file each; :mod:`.base` holds :class:`~simkit.models.binaural.base.BinauralModel` and the shared pieces
(conventions, image preparation, the visual encoder, weight loading).

=======================  ===============  ==================================================================
model                    task             method
=======================  ===============  ==================================================================
``mono_copy``            binauralize      floor: L = R = mono (:mod:`.mono_copy`)
``mono2binaural``        binauralize      2.5D Visual Sound U-Net mask on the mono STFT (:mod:`.mono2binaural`)
``clup``                 binauralize      CLUP: OSA + SSM localiser + DiffWave upmix, cycle loss (:mod:`.clup`)
``clup_loc``             av_localize      CLUP's localiser trained alone (:mod:`.clup`)
``clup_baseline``        binauralize      CLUP's additional baseline + the upmix (:mod:`.clup_baseline`)
``clup_baseline_loc``    av_localize      the additional baseline's localiser alone (:mod:`.clup_baseline`)
=======================  ===============  ==================================================================

Networks used by the models: :mod:`.vggish` (audio encoder), :mod:`.diffwave` (upmix). The modules register
themselves when :data:`simkit.models.MODELS` is first read (a new model is a new file).
"""
