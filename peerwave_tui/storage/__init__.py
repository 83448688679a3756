"""Local storage: device stores (SQLCipher), key custody, message history."""
