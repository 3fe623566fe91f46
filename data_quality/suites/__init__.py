"""One module per suite: ``expectations()`` (the rules, built in Python) and ``load(day, settings, con)``
(the partition's rows as a ``Batch``)."""
