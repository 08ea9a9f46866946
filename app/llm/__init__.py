"""The llama.cpp side: HTTP client, token counting and the server process."""
