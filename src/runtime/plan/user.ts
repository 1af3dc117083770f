import { UsageError } from '../../errors.js';

/**
 * `-u name|uid[:group|gid]` resolved as docker does against the image's own
 * /etc/passwd and /etc/group (read inside the rootfs by the caller).
 */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^\d+$/;
const MAX_ID = 2 ** 32 - 2;

function parseId(what: string, s: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw new UsageError(`${what} ${s} is out of range`);
  return n;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#') || !NUMERIC.test(f[2]!) || !NUMERIC.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || !NUMERIC.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) });
  }
  return out;
}

/**
 * `groupAdd` (--group-add): group names looked up in the image's /etc/group,
 * or numbers, added to the supplementary groups.
 */
export function resolveUser(spec: string | undefined, passwdText: string | undefined, groupText: string | undefined, groupAdd: string[] = []): ResolvedUser {
  const passwd = passwdText ? parsePasswd(passwdText) : [];
  const groups = groupText ? parseGroup(groupText) : [];
  const [userPart, groupPart] = (spec && spec !== '' ? spec : '0').split(':', 2) as [string, string | undefined];

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (NUMERIC.test(userPart)) {
    uid = parseId('user id', userPart);
    entry = passwd.find((e) => e.uid === uid);
  } else {
    entry = passwd.find((e) => e.name === userPart);
    if (!entry) throw new UsageError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
  }

  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) {
      gid = parseId('group id', groupPart);
    } else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new UsageError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }

  // Supplementary groups: every group that lists the user by name (docker's GetExecUser).
  const additionalGids = entry
    ? groups.filter((g) => g.members.includes(entry!.name) && g.gid !== gid).map((g) => g.gid)
    : [];
  for (const g of groupAdd) {
    if (NUMERIC.test(g)) additionalGids.push(parseId('group id', g));
    else {
      const found = groups.find((e) => e.name === g);
      if (!found) throw new UsageError(`unable to find group ${g}: no matching entries in group file`);
      additionalGids.push(found.gid);
    }
  }
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home: entry?.home || '/' };
}
