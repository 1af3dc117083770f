import type { StoredImage } from './images.js';

/** One row of `docker history`, newest first. */
export interface HistoryRow {
  /** The image id for the newest row, '<missing>' for the others (no local parent images). */
  id: string;
  created?: string;
  createdBy: string;
  size: number;
  comment: string;
}

/**
 * The config's history, each non-empty entry matched in order to the next
 * layer for its size (empty_layer entries are 0 B), as docker does. An image
 * without history gets one row per layer.
 */
export function imageHistory(image: StoredImage): HistoryRow[] {
  const history = image.config.history ?? [];
  const rows: HistoryRow[] = [];
  let layer = 0;
  if (history.length === 0) {
    for (const l of image.layers) rows.push({ id: '<missing>', created: image.config.created, createdBy: '', size: l.size, comment: '' });
  }
  for (const h of history) {
    let size = 0;
    if (!h.empty_layer) size = image.layers[layer++]?.size ?? 0;
    rows.push({ id: '<missing>', created: h.created, createdBy: h.created_by ?? '', size, comment: h.comment ?? '' });
  }
  rows.reverse();
  if (rows[0]) rows[0].id = image.id;
  return rows;
}
