"""CNSS WhatsApp: the product's logic and data. No Streamlit import anywhere in this package."""
