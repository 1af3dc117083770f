import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { logger } from '../log.js';
import type { OciProcess, OciSpec } from './spec.js';

/**
 * An OCI bundle (bundle.md): a directory with config.json, whose root.path
 * (relative to the bundle, or absolute) is the container's root filesystem.
 * What tsrun cannot honour is refused here with the field named, never
 * silently ignored.
 */

const SUPPORTED_HOOKS = new Set(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
export interface Bundle {
  dir: string;
  spec: OciSpec;
}

export function loadBundle(bundleDir: string): Bundle {
  const dir = path.resolve(bundleDir);
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const spec = checkSpec(raw, file);
  const rootPath = path.resolve(dir, spec.root.path);
  let st: fs.Stats;
  try {
    st = fs.statSync(rootPath);
  } catch {
    throw new UsageError(`the root filesystem ${rootPath} (root.path in ${file}) does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`the root filesystem ${rootPath} is not a directory`);
  // A symlinked rootfs is resolved once, here: the child binds exactly this directory.
  spec.root = { ...spec.root, path: fs.realpathSync(rootPath) };
  return { dir, spec };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkSpec(raw: unknown, file: string): OciSpec {
  const bad = (what: string) => new UsageError(`${file}: ${what}`);
  if (!isObject(raw)) throw bad('not a JSON object');
  if (typeof raw.ociVersion !== 'string' || !/^1\.\d+\.\d+/.test(raw.ociVersion)) {
    throw bad(`ociVersion ${JSON.stringify(raw.ociVersion)} is not a 1.x runtime-spec version`);
  }
  if (!isObject(raw.root) || typeof raw.root.path !== 'string' || raw.root.path === '') throw bad('root.path is required');
  if (!isObject(raw.process)) throw bad('process is required to create a container');
  checkProcess(raw.process as unknown as OciProcess, bad);
  if (raw.mounts !== undefined && !Array.isArray(raw.mounts)) throw bad('mounts must be an array');
  const linux = isObject(raw.linux) ? raw.linux : {};
  if (!Array.isArray(linux.namespaces ?? [])) throw bad('linux.namespaces must be an array');
  checkResources(linux.resources, 'linux.resources', bad);
  if (isObject(raw.hooks)) {
    for (const [kind, list] of Object.entries(raw.hooks)) {
      if (!Array.isArray(list) || list.length === 0) continue;
      if (!SUPPORTED_HOOKS.has(kind)) throw bad(`hooks.${kind} is not supported (only ${[...SUPPORTED_HOOKS].join(', ')} are)`);
      // The init carries startContainer hooks in fixed room (native/core/plan.h CTR_MAX_HOOKS).
      if (kind === 'startContainer' && list.length > 16) throw bad('hooks.startContainer: at most 16 hooks');
      for (const h of list as unknown[]) {
        if (!isObject(h) || typeof h.path !== 'string' || !path.isAbsolute(h.path)) throw bad(`hooks.${kind}: every hook needs an absolute path`);
        // config.md: "If set, timeout MUST be greater than zero."
        if (h.timeout !== undefined && !(Number.isInteger(h.timeout) && (h.timeout as number) > 0)) throw bad(`hooks.${kind}: a hook's timeout must be a whole number of seconds above 0`);
      }
    }
  }
  return {
    ...(raw as unknown as OciSpec),
    // runc takes a relative destination as relative to / (with a deprecation warning); "..", as everywhere, is refused later.
    mounts: ((raw.mounts as OciSpec['mounts'] | undefined) ?? []).map((m) =>
      typeof m.destination === 'string' && m.destination !== '' && !m.destination.startsWith('/') ? { ...m, destination: `/${m.destination}` } : m,
    ),
    linux: { ...(linux as unknown as OciSpec['linux']), namespaces: (linux.namespaces as OciSpec['linux']['namespaces'] | undefined) ?? [] },
  };
}

/** The cgroup limits tsrun-oci applies (cgroups/limits.ts); devices are checked where they are compiled. */
const KERNEL_MEMORY = ['kernel', 'kernelTCP'];

const SUPPORTED_RESOURCES: Record<string, string[] | 'any'> = {
  memory: ['limit', 'swap', 'reservation', 'swappiness', 'disableOOMKiller'],
  // leafWeight is gone from the kernel (CFQ): refused by name unless 0.
  blockIO: ['weight', 'weightDevice', 'throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice'],
  cpu: ['shares', 'quota', 'period', 'cpus', 'mems'],
  pids: ['limit'],
  devices: 'any',
  // cgroup v2 files by name (limits.ts); Kubernetes sends memory.oom.group.
  unified: 'any',
};

/**
 * linux.resources (at create, and `update`'s): a limit tsrun-oci would not
 * apply is refused with its name, never dropped. An empty one (null, 0,
 * false, [] or {}: what CRI sends for hugepageLimits or unified when unset,
 * and Go callers for a blockIO whose weight they leave at 0) asks for
 * nothing and passes, field by field.
 */
export function checkResources(res: unknown, where: string, bad: (what: string) => Error): void {
  if (res === undefined || res === null) return;
  if (!isObject(res)) throw bad(`${where} must be an object`);
  for (const [key, value] of Object.entries(res)) {
    if (asksNothing(value) || (isObject(value) && Object.values(value).every(asksNothing))) continue;
    // The kubelet lists every page size the node has, with limit 0 unless the pod asks for huge pages.
    if (key === 'hugepageLimits' && Array.isArray(value) && value.every((h) => isObject(h) && asksNothing(h.limit))) continue;
    const known = SUPPORTED_RESOURCES[key];
    if (known === undefined) throw bad(`${where}.${key} is not supported`);
    if (known === 'any') continue;
    if (!isObject(value)) throw bad(`${where}.${key} must be an object`);
    for (const [field, v] of Object.entries(value)) {
      if (asksNothing(v) || known.includes(field)) continue;
      // Kernel memory limits: gone from the kernel (a no-op since 5.16 on v1, never on v2); runc ignores them with a warning too.
      if (key === 'memory' && KERNEL_MEMORY.includes(field)) {
        logger('oci').warn({ field: `${where}.${key}.${field}` }, 'kernel memory settings are ignored');
        continue;
      }
      throw bad(`${where}.${key}.${field} is not supported`);
    }
  }
}

const asksNothing = (v: unknown) => v === undefined || v === null || v === 0 || v === false || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);

/** The fields of a process the ladder needs; used for config.json and for `exec --process`. */
export function checkProcess(p: OciProcess, bad: (what: string) => Error): void {
  if (!Array.isArray(p.args) || p.args.length === 0 || !p.args.every((a) => typeof a === 'string')) throw bad('process.args must be a non-empty array of strings');
  if (typeof p.cwd !== 'string' || !p.cwd.startsWith('/')) throw bad('process.cwd must be an absolute path');
  if (p.env !== undefined && (!Array.isArray(p.env) || !p.env.every((e) => typeof e === 'string'))) throw bad('process.env must be an array of strings');
  if (!isObject(p.user) || !Number.isInteger(p.user.uid) || !Number.isInteger(p.user.gid)) throw bad('process.user.uid and gid are required');
  if (p.oomScoreAdj !== undefined && !(Number.isInteger(p.oomScoreAdj) && p.oomScoreAdj >= -1000 && p.oomScoreAdj <= 1000)) throw bad('process.oomScoreAdj must be an integer from -1000 to 1000');
  // runc's rule: a profile on a host without AppArmor is an error, not a container run unconfined.
  if (p.apparmorProfile && !apparmorEnabled()) throw bad(`process.apparmorProfile "${p.apparmorProfile}": AppArmor is not enabled on this host`);
  // runc's go-selinux makes a label a no-op on a host without SELinux; where it is on, running unlabelled would be a silent downgrade.
  if (p.selinuxLabel && fs.existsSync('/sys/fs/selinux/enforce')) throw bad(`process.selinuxLabel "${p.selinuxLabel}": SELinux labels are not supported by tsrun`);
}

function apparmorEnabled(): boolean {
  try {
    return fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}

/** A process as the launch plan wants it: env present. */
export function normalizeProcess(p: OciProcess): OciProcess {
  return { ...p, env: p.env ?? [] };
}
