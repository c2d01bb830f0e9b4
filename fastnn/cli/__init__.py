"""The command line: one module per command, and the modules the commands share.

Commands (each a ``main(argv=None)``; ``python -m fastnn.<command>`` shims at the top
level): :mod:`~fastnn.cli.train`, :mod:`~fastnn.cli.evaluate`, :mod:`~fastnn.cli.predict`,
:mod:`~fastnn.cli.compare`, :mod:`~fastnn.cli.plots`, :mod:`~fastnn.cli.export`,
:mod:`~fastnn.cli.download` (``python -m fastnn.data download``). No command imports
another: what two commands share lives in :mod:`~fastnn.cli.common` (flags, help
formatter, the ``main`` wrapper), :mod:`~fastnn.cli.inputs` (``--model``/``--data``
loading), :mod:`~fastnn.cli.fit_flags`, :mod:`~fastnn.cli.fit_options` and
:mod:`~fastnn.cli.fit_setup` (train's and compare's flags, options and setup), :mod:`~fastnn.cli.report` and :mod:`~fastnn.cli.plotting`.
``train_loop``, ``train_resume`` and ``train_outputs`` are train's own helpers.
Nothing outside this package imports it (checked by ``lint-imports``).
"""
