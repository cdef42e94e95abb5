"""Event models of the less common trigger families, imported by handler.triggers when an event of
the family arrives: a cold start builds only the models its own event needs (pydantic builds a
validator per model class, about half a millisecond each), and an edge's models cost the other
edges nothing. The SNS and direct-request models, on the paths most invocations take, stay in
handler.triggers. tests/unit/test_cold_start_savings.py checks which module each event imports."""
