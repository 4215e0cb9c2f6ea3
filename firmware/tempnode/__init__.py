"""tempnode firmware."""
