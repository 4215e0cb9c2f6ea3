# Runs first on every reset. Nothing here can fail: the logger starts from main.py, so a
# broken configuration or firmware still leaves a working REPL for `tempnode deploy`.
# slots.choose() picks the firmware version this boot runs (an update on trial or confirmed,
# or the deployed bundle) and never raises itself.
import gc

try:
    import slots

    slots.choose()
except Exception as e:  # a damaged slots.mpy: the deployed bundle runs, or the REPL
    print("tempnode: boot: %r" % e)

gc.collect()
