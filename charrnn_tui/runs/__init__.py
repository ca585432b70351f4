"""Everything a run keeps on disk, torch-free: the app lists runs and the CLI checks them at once.

A run lives in one folder::

    config.json       the settings and the record of the corpus it was trained on (records.CorpusRecord)
    checkpoint.pt     the training state (written by model/checkpoint.py, which needs torch)
    checkpoint.json   what that checkpoint holds (step, losses), readable without torch (records.CheckpointInfo)
    metrics.jsonl     one JSON object per logged step (metrics_log.MetricsLog)
    .lock             held by the one process that writes the run (folder.RunLock)

folder.py names the files, writes them atomically (a temporary file renamed over the old one, so a crash leaves
the old file or the new one), creates run folders and holds the lock; records.py reads and writes the records;
metrics_log.py the metrics log; listing.py summarises and lists saved runs; corpus_of_run.py finds a saved run's
corpus again.
"""
