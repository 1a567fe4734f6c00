"""Speaker changes and turns: "who spoke when", and so where the speaker changes.

The default detector (:mod:`.speakers`: dense speaker embeddings grouped per file), the paper's
BiLSTM (:mod:`.model`, :mod:`.peaks`) and its GE2E re-scoring (:mod:`.rescoring`,
:mod:`.speaker_encoder`), detection on files (:mod:`.detect`) and its outputs (:mod:`.outputs`,
:mod:`.formats`, :mod:`.plots`, :mod:`.report`), annotations (:mod:`.annotations`), evaluation
(:mod:`.evaluation`, :mod:`.metrics`), tuning, training, baselines and simulated conversations.
"""
