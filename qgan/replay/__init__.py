"""Replaying a recorded run from the archived entropy and the DVC history of the pool.
"""
