"""Event models of each shape (a direct request, which the other families' messages may also carry,
and each trigger family's envelope), imported by handler.triggers when such an event arrives: a
cold start builds only the models its own event needs (pydantic builds a validator per model class
as it is defined: a third of a millisecond for a plain one, about two for the direct request's),
and an edge's models cost the other edges nothing. tests/unit/test_cold_start_savings.py checks
which modules each event imports."""
