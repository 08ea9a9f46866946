"""One chat turn from prompt to stored reply: LLMContextManager for /chat, ClientTurn for OpenAI clients
(whose resent history openai_sync lines up with the stored turns), and the factory that makes them."""
