"""The book tooling: what executes, records and publishes the notebooks, apart from the
library the notebooks import.

- ``cli``      the command line, ``python -m course_utils run|book|results|lab|data``
- ``runner``   executes notebooks with papermill (batch, parameters, sweeps, locks) and builds the book
- ``results``  what a chapter records and claims (``cu.results.record``/``claim``), read back as one table
- ``reports``  the headline metrics each chapter reports
- ``pages``    the generated book pages (results table, run status)
"""
