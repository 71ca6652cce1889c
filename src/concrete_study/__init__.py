"""concrete-study: the library of the workflow. Importing it pins the numerics (numerics.py)
before torch or numpy compute anything, in every process that uses it."""

from concrete_study.numerics import pin

pin()
