"""The model server side: the seams Mnemo uses, the llama.cpp client, token counting, the server process."""
