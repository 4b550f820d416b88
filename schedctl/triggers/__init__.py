"""Triggers decide when a job runs next. Each kind is one module and one class.

Engine: the bottom of it; may import only the basics (clock, timeutil, errors).
"""
