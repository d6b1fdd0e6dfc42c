"""Result documents and the tables made from them."""
