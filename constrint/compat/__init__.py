"""Front doors for code written for other constraint libraries.

* :mod:`constrint.compat.python_constraint`: python-constraint's ``Problem`` API (change the
  import, keep the code).
"""
