"""Long-term memory: typed facts across conversations. The book (create, merge, supersede, search)
over its store and keyword index; the extractor that proposes facts from a chat; cleanup; export and
import."""
