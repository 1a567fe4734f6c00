"""The frame-labelling core, which knows no task.

Audio in (:mod:`.audio`), features (:mod:`.features`), the task contract shared by data, model and
inference (:mod:`.task`), sliding-window scoring (:mod:`.windows`) and its fast runners
(:mod:`.runners`), the model-file format (:mod:`.modelfile`, :mod:`.header_schema`), one trainer
with task hooks (:mod:`.training`, and on several devices :mod:`.distributed`), batch runs over
many files (:mod:`.batch`, :mod:`.batch_processes`, :mod:`.dask_batch`), line-based text files
(:mod:`.textfiles`), shared layers and signal helpers, progress, errors and atomic output. The
tasks (:mod:`turnpoint.changes`, :mod:`turnpoint.events`) sit beside it.
"""
