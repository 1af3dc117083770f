import { RuntimeError, UsageError } from '../../errors.js';
import { containerLockFile, storeLockFile } from '../../store/paths.js';
import { NAME_PATTERN } from '../../util/ids.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import { claimName, ensureNameIndex, releaseName } from '../names.js';
import { readRecord, writeRecord } from '../state/record.js';

/** `rename`: a new unique name, checked under the store lock as create checks it (running or not, as docker). */
export async function renameContainer(ctx: Context, id: string, name: string): Promise<void> {
  const p = ctx.paths;
  if (!NAME_PATTERN.test(name)) throw new UsageError(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  await withLock(ctx.native, storeLockFile(p), () =>
    withLock(ctx.native, containerLockFile(p, id), () => {
      const rec = readRecord(p, id);
      if (!rec) throw new RuntimeError(`container ${id} disappeared`);
      if (rec.name === name) throw new UsageError(`renaming a container with the same name as its current name`);
      ensureNameIndex(p);
      claimName(p, name, id);
      writeRecord(p, { ...rec, name });
      releaseName(p, rec.name, id);
    }),
  );
}
