/**
 * The config a fresh service install starts with (Windows: written to %ProgramData%\telbridge;
 * systemd/install.sh copies systemd/telbridge.example.json, which a test keeps identical): the API
 * on loopback and no sources yet, so the service starts cleanly and `telbridge status` answers.
 */
export const STARTER_CONFIG = `{
  "api": { "host": "127.0.0.1", "port": 7700 },
  "log": { "level": "info" },
  "sources": []
}
`
