"""Speaker changes and turns: "who spoke when", and so where the speaker changes.

The default detector (:mod:`.speakers`: dense speaker embeddings grouped per file), the paper's
BiLSTM (:mod:`.model`, :mod:`.scoring`, :mod:`.peaks`) and its GE2E re-scoring (:mod:`.rescoring`
with :mod:`.context_embeddings`, :mod:`.candidate_scorer`, :mod:`.segment_clustering`; the encoder
in :mod:`.speaker_encoder`), detection on files (:mod:`.detect`, :mod:`.batch`) and what it found
(:mod:`.detection`) with its outputs (:mod:`.outputs`, :mod:`.formats`, :mod:`.plots`,
:mod:`.report`), annotations and protocols (:mod:`.annotations`, :mod:`.protocols`), what a change
is and how it is scored (:mod:`.change_definition`, :mod:`.metrics`, :mod:`.evaluation`), tuning
(:mod:`.score_curves`, :mod:`.sweep`, :mod:`.tuning`), training (:mod:`.training_data`,
:mod:`.training`), baselines and simulated conversations (:mod:`.simulate`, :mod:`.voice_pool`,
:mod:`.turn_taking`, :mod:`.channels`).
"""
