"""Click commands of the ``tinypdm`` CLI, one module per command (imported lazily)."""
