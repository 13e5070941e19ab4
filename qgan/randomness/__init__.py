"""Tests of the pool and its normals: normality tests, NIST SP 800-22 and SP 800-90B estimates,
judged as one Holm family.
"""
