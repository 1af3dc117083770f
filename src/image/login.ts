import { registryKey, removeCredentials, saveCredentials, type Credentials } from './credentials.js';
import { RegistryClient, registryHost } from './registry.js';

/**
 * `login`: checks the credentials against the registry (GET /v2/, through
 * its challenge: a token for them, or Basic auth) and only then saves them
 * where docker keeps them. The server is docker.io when not given.
 */
export async function login(server: string | undefined, creds: Credentials): Promise<string> {
  const name = serverName(server);
  const { host } = registryHost(`${name}/x`);
  await new RegistryClient(host, '', creds).ping();
  saveCredentials(name, creds);
  return registryKey(name);
}

/** `logout`: forgets the saved credentials; false if there were none. */
export function logout(server: string | undefined): { key: string; removed: boolean } {
  const name = serverName(server);
  return { key: registryKey(name), removed: removeCredentials(name) };
}

/** host[:port] as a reference names it: docker.io by default, a URL's scheme and path dropped. */
function serverName(server: string | undefined): string {
  const host = (server ?? 'docker.io').replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}
