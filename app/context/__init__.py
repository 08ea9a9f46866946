"""Per-turn context: the prompt layout, the token budget and the LLMContextManager."""
