"""Event models of each trigger family but the direct request's, imported by handler.triggers when
an event of the family arrives: a cold start builds only the models its own event needs (pydantic
builds a validator per model class, about a third of a millisecond each once its first is built),
and an edge's models cost the other edges nothing. The direct request's models, which SNS, SQS
and SMN messages may also carry, stay in handler.triggers. tests/unit/test_cold_start_savings.py
checks which module each event imports."""
