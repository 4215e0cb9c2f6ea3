# Runs after boot.py on every reset: the logger, or safe mode, or a config error at the REPL,
# from the version boot.py chose (slots.start rolls a version on trial back if it cannot start).
import slots

slots.start()
