"""The frame-labelling core, which knows no task.

Audio in (:mod:`.audio`), features (:mod:`.features`), the task contract shared by data, model and
inference (:mod:`.task`), sliding-window scoring (:mod:`.windows`) and its fast runners
(:mod:`.runners`), the model-file format (:mod:`.modelfile`, :mod:`.header_schema`), training
(:mod:`.distributed`), batch runs over many files (:mod:`.batch`, :mod:`.dask_batch`), progress,
errors and atomic output. The tasks (:mod:`turnpoint.changes`, :mod:`turnpoint.events`) sit beside it.
"""
