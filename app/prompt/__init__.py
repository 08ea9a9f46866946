"""The prompt: the pure layout of its parts, the budget planner, the builder that fits summaries, window,
recalled turns and long-term facts into the context (one fit loop for /chat and /v1), and the last
prompt sent per conversation."""
