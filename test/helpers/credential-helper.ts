import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * docker-credential-fake: a credential helper speaking docker's protocol
 * (get/store/erase, the server on stdin, JSON out, "credentials not found"
 * on stdout with a failing exit), keeping one file per server in its store
 * dir and logging each call to <store>/log. `use(env)` puts it first on
 * PATH for the processes a test starts.
 */
export class FakeCredentialHelper {
  readonly bin: string;
  readonly store: string;

  constructor(dir: string) {
    this.bin = path.join(dir, 'bin');
    this.store = path.join(dir, 'store');
    fs.mkdirSync(this.bin, { recursive: true });
    fs.mkdirSync(this.store, { recursive: true });
    fs.writeFileSync(path.join(this.bin, 'docker-credential-fake'), SCRIPT.replace('STORE', JSON.stringify(this.store)), { mode: 0o755 });
    // One that always fails, as a locked keychain would.
    fs.writeFileSync(path.join(this.bin, 'docker-credential-broken'), '#!/bin/sh\necho "the keychain is locked" >&2\nexit 1\n', { mode: 0o755 });
  }

  /** Puts the helper on PATH (process.env, inherited by the CLI the tests run); returns the undo. */
  use(): () => void {
    const saved = process.env.PATH;
    process.env.PATH = `${this.bin}:${saved ?? '/usr/bin:/bin'}`;
    return () => {
      process.env.PATH = saved;
    };
  }

  /** Stores credentials as `docker login` through the helper would. */
  put(serverUrl: string, username: string, secret: string): void {
    fs.writeFileSync(this.fileOf(serverUrl), JSON.stringify({ ServerURL: serverUrl, Username: username, Secret: secret }));
  }

  has(serverUrl: string): boolean {
    return fs.existsSync(this.fileOf(serverUrl));
  }

  /** The calls so far, one "action server" per line. */
  calls(): string[] {
    try {
      return fs.readFileSync(path.join(this.store, 'log'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  private fileOf(serverUrl: string): string {
    return path.join(this.store, Buffer.from(serverUrl).toString('hex'));
  }
}

const SCRIPT = `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const store = STORE;
const action = process.argv[2];
const input = fs.readFileSync(0, 'utf8');
const server = action === 'store' ? JSON.parse(input).ServerURL : input;
const file = path.join(store, Buffer.from(server).toString('hex'));
fs.appendFileSync(path.join(store, 'log'), action + ' ' + server + '\\n');
const notFound = () => {
  process.stdout.write('credentials not found in native keychain\\n');
  process.exit(1);
};
if (action === 'store') fs.writeFileSync(file, input);
else if (action === 'get') {
  if (!fs.existsSync(file)) notFound();
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  process.stdout.write(JSON.stringify({ ServerURL: server, Username: c.Username, Secret: c.Secret }));
} else if (action === 'erase') {
  if (!fs.existsSync(file)) notFound();
  fs.unlinkSync(file);
} else process.exit(2);
`;
