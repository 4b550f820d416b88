"""Triggers decide when a job runs next. Each kind is one module and one class."""
