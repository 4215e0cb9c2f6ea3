// Runs device tests (tests/device/test_*.py) on MicroPython's webassembly port under Node.js:
// the oldest MicroPython the project can get (1.23.0, from npm), for tests/test_bundle.py.
//
//   node tests/wasm_runner.mjs PACKAGE_DIR FIRMWARE_DIR BOARD_DIR TESTS_DIR < tests.json
//
// TESTS_DIR is tests/: its device/ folder (the test modules) and scenarios/ are copied.
//
// tests.json: [{"module": "test_clock", "function": "test_x", "env": {...}}, ...]. Each test
// gets a fresh interpreter with the firmware, the simulated board and the tests copied into
// its in-memory filesystem, as the unix harness gives each one a fresh process. The port has
// no `os.getenv`/`os.putenv` (the simulated board reads its settings with them): the runner
// gives it both, over the test module's ENV. Prints one line per test, "PASS module.function"
// or "FAIL module.function", the failure's traceback after it.
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";

const [packageDir, firmwareDir, boardDir, testsDir] = process.argv.slice(2);
const { loadMicroPython } = await import(pathToFileURL(path.join(packageDir, "micropython.mjs")));
const tests = JSON.parse(fs.readFileSync(0, "utf8"));

function readTree(dir) {
  const files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && !entry.parentPath.includes("__pycache__")) {
      const full = path.join(entry.parentPath, entry.name);
      files.push([path.relative(dir, full), fs.readFileSync(full)]);
    }
  }
  return files;
}

const trees = {
  "/fw": readTree(firmwareDir),
  "/board": readTree(boardDir),
  "/tests/device": readTree(path.join(testsDir, "device")),
  "/tests/scenarios": readTree(path.join(testsDir, "scenarios")),
};
let failed = 0;
for (const test of tests) {
  const output = [];
  const mp = await loadMicroPython({
    heapsize: 4 * 1024 * 1024,
    stdout: (line) => output.push(line),
    stderr: (line) => output.push(line),
  });
  for (const [root, files] of Object.entries(trees)) {
    for (const [name, data] of files) {
      mp.FS.mkdirTree(path.posix.dirname(`${root}/${name}`));
      mp.FS.writeFile(`${root}/${name}`, data);
    }
  }
  mp.FS.mkdirTree("/work");
  mp.runPython(`
import os, sys
_env = ${JSON.stringify(test.env || {})}
os.getenv = lambda name, default=None: _env.get(name, default)
os.putenv = _env.__setitem__
sys.path[:0] = ["/tests/device", "/fw", "/board"]
os.chdir("/work")
try:
    getattr(__import__(${JSON.stringify(test.module)}), ${JSON.stringify(test.function)})()
    print("PASS")
except BaseException as e:
    sys.print_exception(e)
`);
  const passed = output.length > 0 && output[output.length - 1] === "PASS";
  failed += passed ? 0 : 1;
  console.log(`${passed ? "PASS" : "FAIL"} ${test.module}.${test.function}`);
  if (!passed) console.log(output.join("\n"));
}
process.exit(failed ? 1 : 0);
