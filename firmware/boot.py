# Runs first on every reset. Nothing here can fail: the logger starts from main.py, so a
# broken configuration or firmware still leaves a working REPL for `tempnode deploy`.
import gc

gc.collect()
