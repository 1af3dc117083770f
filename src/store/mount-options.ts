/**
 * Overlay mount options, built as Docker's overlay2 Get does, as pure
 * functions so the page budget can be tested without root.
 *
 * mount(2) copies its data argument into one page. Docker keeps 512 bytes of
 * it for an SELinux context= label and sizes link ids so that 128 lower
 * entries "l/<26 chars>:" fit the rest: (26 + 1 + 1) * 128 = 3584 = 4096 - 512.
 * When the string does not fit, the new mount API takes each lower dir in
 * its own fsconfig("lowerdir+") call (Linux 6.8), where no page limit applies.
 */

export const PAGE_SIZE = 4096;
export const SELINUX_LABEL_RESERVE = 512;
export const LINK_ID_LENGTH = 26;
export const DOCKER_MAX_DEPTH = 128;

export interface OverlayRequest {
  /** Absolute paths of the lower dirs, closest first (l/ symlinks are fine: the kernel resolves them). */
  lowerDirs: string[];
  /** Absent for a read-only mount of lowers only. */
  upperDir?: string;
  workDir?: string;
  /** Docker adds index=off when the overlay module has the index parameter. */
  indexOff: boolean;
  /**
   * overlayfs's `volatile` (Linux 5.10): no sync of the upper dir, neither a
   * container's fsync nor the syncfs of the whole upper filesystem that
   * every unmount of a writable overlay does (21 ms at a container's exit
   * with 50 MB of the host's writes pending, here). For a container removed
   * at its exit, whose upper dir no crash can make worth keeping (podman
   * mounts its --rm containers so).
   */
  volatile?: boolean;
}

/** An overlay root of a container's layers, mounted idmapped by the monitor (plan.h rootlower): lowers closest first; upper and work are layerDir's diff and work. */
export interface RootOverlay {
  lowerDirs: string[];
  layerDir: string;
  options: string[];
}

export type OverlayMount =
  | { kind: 'data'; data: string }
  | { kind: 'layers'; lowerDirs: string[]; upperDir?: string; workDir?: string; options: string[] };

export function overlayData(req: OverlayRequest): string {
  const parts: string[] = [];
  parts.push(...overlayFlags(req));
  parts.push(`lowerdir=${req.lowerDirs.join(':')}`);
  if (req.upperDir !== undefined) parts.push(`upperdir=${req.upperDir}`, `workdir=${req.workDir}`);
  return parts.join(',');
}

/** Whether a data string fits mount(2)'s single page (it is copied NUL-terminated). */
export function fitsOnePage(data: string, pageSize = PAGE_SIZE): boolean {
  return Buffer.byteLength(data) <= pageSize - 1;
}

/** Docker's own budget for its relative `l/` names: true up to 128 layers on 4 KiB pages. */
export function relativeLowerFitsBudget(layerCount: number, pageSize = PAGE_SIZE): boolean {
  return (LINK_ID_LENGTH + 'l'.length + 1) * layerCount <= pageSize - SELINUX_LABEL_RESERVE;
}

export function planOverlayMount(req: OverlayRequest, pageSize = PAGE_SIZE): OverlayMount {
  if (req.lowerDirs.length === 0) throw new Error('an overlay needs at least one lower dir');
  if (req.upperDir !== undefined && req.workDir === undefined) throw new Error('an overlay upper dir needs a work dir');
  for (const dir of [...req.lowerDirs, req.upperDir ?? '', req.workDir ?? '']) {
    // ':' separates lower dirs and ',' separates options; the kernel's escaping is not worth relying on.
    if (/[:,\0]/.test(dir)) throw new Error(`overlay path contains ':' ',' or NUL: ${dir}`);
  }
  const data = overlayData(req);
  if (fitsOnePage(data, pageSize)) return { kind: 'data', data };
  return {
    kind: 'layers',
    lowerDirs: req.lowerDirs,
    upperDir: req.upperDir,
    workDir: req.workDir,
    options: overlayFlags(req),
  };
}

/** The options besides the directories. */
export function overlayFlags(req: Pick<OverlayRequest, 'indexOff' | 'volatile'>): string[] {
  return [...(req.indexOff ? ['index=off'] : []), ...(req.volatile ? ['volatile'] : [])];
}
