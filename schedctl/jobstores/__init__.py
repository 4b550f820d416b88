"""Job stores keep jobs and their next run times: in memory, in SQLite, later in PostgreSQL."""
