import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UsageError } from '../errors.js';
import type { Context } from '../runtime/context.js';
import { findContainer } from '../runtime/containers.js';
import { withUnion } from '../runtime/copy.js';
import { newId } from '../util/ids.js';
import { withLock } from '../util/lock.js';
import { packDirToFile } from './pack.js';
import { containerLockFile, tmpDir } from './paths.js';

/**
 * `docker export`: the container's root filesystem, flattened, as a tar.
 * A running container's union is already mounted at its merged dir and is
 * read there; otherwise the union is mounted for the export and taken down
 * after (withUnion), under the container's lock so that a `start` cannot
 * race it.
 * Whiteouts are naturally absent from a union. The bind-mounted
 * hosts/hostname/resolv.conf are not in the union (docker likewise exports
 * the init layer's empty placeholders).
 */
export async function exportContainer(ctx: Context, ref: string, output: string | undefined): Promise<void> {
  const p = ctx.paths;
  if (output === undefined && process.stdout.isTTY) {
    throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  const rec = findContainer(p, ref);
  fs.mkdirSync(tmpDir(p), { recursive: true, mode: 0o700 });
  const file = output !== undefined ? `${path.resolve(output)}.${process.pid}.tmp` : path.join(tmpDir(p), `export-${process.pid}-${newId().slice(0, 8)}.tar`);
  try {
    await withLock(ctx.native, containerLockFile(p, rec.id), () =>
      withUnion(ctx, rec, 'read', (merged) => packDirToFile(merged, file, { native: ctx.native, overlayWhiteouts: false })),
    );
    if (output !== undefined) fs.renameSync(file, path.resolve(output));
    else await pipeline(fs.createReadStream(file), process.stdout);
  } finally {
    fs.rmSync(file, { force: true });
  }
}
