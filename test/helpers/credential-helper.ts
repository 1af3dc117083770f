import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * docker-credential-fake (test/helpers/credential-helpers/): a credential
 * helper speaking docker's protocol (get/store/erase, the server on stdin,
 * JSON out, "credentials not found" on stdout with a failing exit), keeping
 * one file per server in a store dir of the test's own and logging each
 * call. docker-credential-broken always fails. `use()` puts both first on
 * PATH for the processes a test starts.
 */
export class FakeCredentialHelper {
  readonly store: string;

  constructor(dir: string) {
    this.store = dir;
    fs.mkdirSync(this.store, { recursive: true });
  }

  /** Puts the helpers on PATH and names the store (process.env, inherited by the CLI the tests run); returns the undo. */
  use(): () => void {
    const saved = { path: process.env.PATH, store: process.env.FAKE_CREDENTIAL_STORE };
    process.env.PATH = `${path.join(import.meta.dirname, 'credential-helpers')}:${saved.path ?? '/usr/bin:/bin'}`;
    process.env.FAKE_CREDENTIAL_STORE = this.store;
    return () => {
      process.env.PATH = saved.path;
      if (saved.store === undefined) delete process.env.FAKE_CREDENTIAL_STORE;
      else process.env.FAKE_CREDENTIAL_STORE = saved.store;
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
