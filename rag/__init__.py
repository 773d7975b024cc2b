"""Knowledge base and chatbot: loaders, chunking, embeddings, vector stores, hybrid retrieval and
grounded French answers. No Streamlit here; `rag.answer.answer` is the one entry point the
playground, the inbound processor and the command line call."""
