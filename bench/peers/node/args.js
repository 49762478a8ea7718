// Shared by the Node peers: `--port P` / `--port=P`, else PORT, else 0.
"use strict";

function readPort(argv = process.argv.slice(2), env = process.env) {
  let port = env.PORT !== undefined && env.PORT !== "" ? env.PORT : "0";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") {
      if (i + 1 >= argv.length) usage("--port needs a value");
      port = argv[++i];
    } else if (arg.startsWith("--port=")) {
      port = arg.slice("--port=".length);
    } else {
      usage(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  const n = Number(port);
  if (!/^\d+$/.test(String(port)) || n > 65535) usage(`bad port ${JSON.stringify(port)}`);
  return n;
}

function usage(message) {
  process.stderr.write(`${message}\nusage: node ${require("node:path").basename(process.argv[1])} [--port P]\n`);
  process.exit(2);
}

// Exits on SIGTERM / SIGINT after closing `server` (or at once if that stalls).
function exitOnSignals(close) {
  const stop = () => {
    setTimeout(() => process.exit(0), 500).unref();
    close(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

module.exports = { readPort, exitOnSignals };
