"""Conversation memory: turns as received (models, store, keywords, history), recalled for a new
message (retriever, when), folded into a hierarchy of summaries (summarizer, hierarchy), and written
under the conversation's lock (recorder)."""
