"""tempnode host tools: the `tempnode` command and what it drives."""
