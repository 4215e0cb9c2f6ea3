# Runs after boot.py on every reset: the logger, or safe mode, or a config error at the REPL.
import tempnode.app

tempnode.app.main()
