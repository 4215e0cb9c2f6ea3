# Small helpers for device-side tests (MicroPython has no pytest).


class raises:
    """`with raises(ValueError) as r:` passes only if the block raises that type."""

    def __init__(self, exc_type):
        self.exc_type = exc_type
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("expected %s, nothing was raised" % self.exc_type.__name__)
        if not issubclass(exc_type, self.exc_type):
            return False
        self.value = exc
        return True


def mount_sim_flash(flash, mountpoint="/flash"):
    """Mount littlefs on a SimFlash (formatting a blank one) and make it the current directory."""
    import os

    import vfs

    try:
        fs = vfs.VfsLfs2(flash)
    except OSError:
        vfs.VfsLfs2.mkfs(flash)
        fs = vfs.VfsLfs2(flash)
    vfs.mount(fs, mountpoint)
    os.chdir(mountpoint)
    return fs


def unmount(mountpoint="/flash"):
    import os

    import vfs

    os.chdir("/")
    vfs.umount(mountpoint)
