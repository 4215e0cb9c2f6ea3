"""The firmware's version. `tempnode build` writes this file into the bundle it builds:
`<project version>+<10 hex digits of the SHA-256 of the package's files and the board name>`,
so a version names one exact bundle for one board. Run from source, it is "source"."""

VERSION = "source"
